//! Consuming `with_*` setters, declared one a line ([`setters!`](crate::setters)).
//!
//! Every builder and option type in LiftOS sets its fields the same way: a method that
//! takes `self`, stores its argument (perhaps converted) and returns `self`. The macro
//! writes that method once for all of them.

/// Consuming setters, one a line: each method stores its argument in the field of the
/// same name (converted by the expression after `=>` when there is one), or does the
/// assignment after `=>` when it names another field (or a field of a field), and
/// returns `self`. Attributes
/// (doc comments) before a line go on its method.
///
/// ```
/// #[derive(Default)]
/// pub struct Options {
///     name: Option<String>,
///     batch_size: usize,
///     dir: Option<std::path::PathBuf>,
/// }
///
/// impl Options {
///     liftos_core::setters! {
///         /// Sets the name.
///         with_name(name: impl Into<String>) => Some(name.into());
///         /// Rows per batch (at least 1).
///         with_batch_size(batch_size: usize) => batch_size.max(1);
///         /// Writes into `path`.
///         with_output(path: &str) => self.dir = Some(path.into());
///     }
/// }
///
/// let o = Options::default().with_name("a").with_batch_size(0).with_output("out");
/// assert_eq!((o.name.as_deref(), o.batch_size), (Some("a"), 1));
/// assert_eq!(o.dir, Some("out".into()));
/// ```
#[macro_export]
macro_rules! setters {
    () => {};
    ($(#[$attr:meta])* $name:ident($param:ident: $ty:ty) => self.$($field:ident).+ = $value:expr;
     $($rest:tt)*) => {
        $(#[$attr])*
        pub fn $name(mut self, $param: $ty) -> Self {
            self.$($field).+ = $value;
            self
        }
        $crate::setters!($($rest)*);
    };
    ($(#[$attr:meta])* $name:ident($field:ident: $ty:ty) => $value:expr; $($rest:tt)*) => {
        $(#[$attr])*
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $value;
            self
        }
        $crate::setters!($($rest)*);
    };
    ($(#[$attr:meta])* $name:ident($field:ident: $ty:ty); $($rest:tt)*) => {
        $(#[$attr])*
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $field;
            self
        }
        $crate::setters!($($rest)*);
    };
}
