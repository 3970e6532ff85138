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
    /// `ferry release`: registration was not seen before the timeout.
    TimedOut = 4,
    /// `ferry deploy --wait` / `ferry deployment --wait`: the deployment did not succeed.
    DeployFailed = 5,
}

impl Exit {
    pub const ALL: [Exit; 6] = [
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::Rejected,
        Exit::TimedOut,
        Exit::DeployFailed,
    ];

    pub fn code(self) -> u8 {
        self as u8
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

    /// The README documents every code this enum defines, with the same number.
    #[test]
    fn readme_lists_every_exit_code() {
        let readme = include_str!("../../README.md");
        for e in Exit::ALL {
            let row = format!("| {} |", e.code());
            assert!(
                readme.contains(&row),
                "README has no exit-code row {row} ({e:?})"
            );
        }
    }
}
