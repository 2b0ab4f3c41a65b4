//! Release builds of the `liftos` binary on x86-64 Linux fold identical functions at link
//! time (rust-lld's `--icf=all`): the same generic code instantiated in many crates is
//! kept once, which makes the installed binary about 8 MiB smaller (issue 18). Rust
//! promises no distinct addresses for distinct functions (MSVC's linker folds the same
//! way by default on Windows). `LIFTOS_LINK_ICF=0` turns it off, e.g. with a linker
//! other than rust-lld, the default linker of that target since Rust 1.90.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=LIFTOS_LINK_ICF");
    let var = |key: &str| std::env::var(key).unwrap_or_default();
    let release = var("PROFILE") == "release";
    let target_uses_lld = var("TARGET") == "x86_64-unknown-linux-gnu";
    if release && target_uses_lld && var("LIFTOS_LINK_ICF") != "0" {
        println!("cargo::rustc-link-arg-bin=liftos=-Wl,--icf=all");
    }
}
