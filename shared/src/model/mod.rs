//! Ferry's domain types. Strings from users, S3 and DynamoDB are parsed here once; code past the
//! edge only sees validated values and typed statuses.

mod approval;
mod deployment;
mod environment;
mod live;
mod release;

pub use approval::*;
pub use deployment::*;
pub use environment::*;
pub use live::*;
pub use release::*;

/// A status enum stored and shown as fixed kebab-case strings: one declaration gives serde,
/// `as_str`, `Display` and `parse`, so no code outside serde compares status strings.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                #[cfg_attr(feature = "clap", value(name = $text))]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// serde's default for counts of approvals in records written before they were counted.
fn one() -> u32 {
    1
}
