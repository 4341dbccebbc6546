use std::process::ExitCode;

fn main() -> ExitCode {
    match wspulse::cli::parse() {
        Ok(command) => wspulse::run(command),
        Err(message) => {
            eprintln!("wspulse: {message}");
            ExitCode::from(wspulse::EXIT_ERROR)
        }
    }
}
