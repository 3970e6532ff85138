//! Exit codes: the one list the README's table mirrors.

/// How `ferry` exits. Usage errors (2) come from clap itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// Any error: one `error: …` line on stderr.
    Failure = 1,
    /// A usage error (clap).
    Usage = 2,
    /// `ferry release`: the upload was rejected (the reason is printed).
    Rejected = 3,
    /// A wait that timed out: registration not seen (`ferry release`), a deployment still
    /// running after `--wait-timeout`, a build not started (`ferry logs -f`).
    TimedOut = 4,
    /// `ferry deploy --wait` / `ferry deployment --wait`: the deployment did not succeed.
    DeployFailed = 5,
    /// Ctrl-C while following a deployment: ferry stopped, the deployment goes on.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit with this code, if `ferry` uses it.
    pub fn from_code(code: u8) -> Option<Exit> {
        Some(match code {
            0 => Exit::Success,
            1 => Exit::Failure,
            2 => Exit::Usage,
            3 => Exit::Rejected,
            4 => Exit::TimedOut,
            5 => Exit::DeployFailed,
            130 => Exit::Interrupted,
            _ => return None,
        })
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's exit-code table lists exactly the codes this enum defines.
    #[test]
    fn readme_lists_every_exit_code() {
        let readme = include_str!("../../README.md");
        let documented: Vec<u8> = readme
            .lines()
            .filter_map(|l| l.strip_prefix("| ")?.split_once(" |")?.0.parse().ok())
            .collect();
        let defined: Vec<u8> = (0..=u8::MAX)
            .filter(|c| Exit::from_code(*c).is_some())
            .collect();
        assert_eq!(documented, defined, "README exit codes vs cli/src/exit.rs");
        for c in defined {
            assert_eq!(Exit::from_code(c).map(Exit::code), Some(c));
        }
    }
}
