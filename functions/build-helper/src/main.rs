//! The build helper's executable: `ferry-build …` in a build, or — run by Lambda — the custom
//! resource that publishes this same executable for CodeBuild.

fn main() -> std::process::ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return match ferry_build::publish::run_lambda() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferry-build custom resource: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    ferry_build::main(std::env::args_os().skip(1).collect())
}
