//! The `meshgen` binary: parse the command line, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    // The main thread is one of rayon's workers: it would only wait while
    // the others render, and what it allocates reuses the memory the
    // scenario's check let go, where another thread's allocator arena
    // would take new pages.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
    meshgen::run(std::env::args_os())
}
