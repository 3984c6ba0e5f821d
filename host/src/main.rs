//! The `wharf` binary: parse the command line and hand over to the library.

fn main() -> std::process::ExitCode {
    wharf::cli::main()
}
