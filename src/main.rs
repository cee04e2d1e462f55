//! The `pulse` binary: parse the command line and hand over to the server crate. Nothing else.

// Many small short-lived allocations per request (JSON, headers, frames): mimalloc handles
// them markedly better than glibc malloc under concurrency.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    pulse::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {}
