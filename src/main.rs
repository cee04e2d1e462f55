//! The `pulse` binary: parse the command line and hand over to the server crate. Nothing else.

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    pulse::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {}
