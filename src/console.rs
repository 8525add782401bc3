//! What the admin command line does with its terminal: print an answer that may be cut off
//! by a closed pipe, and read a password without echoing it.

use std::io::{BufRead, IsTerminal, Write};

/// Writes `text` and a line end to stdout.
///
/// `println!` panics when stdout is a closed pipe (`gatehouse events --json | head -c 10`);
/// this returns the error instead, and `main` ends quietly on a broken pipe (SPEC.md: "A
/// command whose output is cut off ... ends quietly, never with a panic").
pub fn print_line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Whether an error is stdout's reader having gone away.
pub fn is_closed_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Whether stdin is a terminal, where a person types (rather than a pipe or a file).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Prints `prompt` on stderr and reads one line from the terminal on stdin with echo off, so
/// the password never shows on the screen or in a terminal's scroll-back. Echo comes back on
/// before this returns, whatever happened.
pub fn read_hidden_line(prompt: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr().lock();
    let line = {
        // Echo goes off before the prompt shows, so nothing typed after it is echoed.
        let _echo_off = EchoOff::new()?;
        err.write_all(prompt.as_bytes())?;
        err.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    // The Enter key was not echoed either.
    err.write_all(b"\n")?;
    Ok(without_line_end(&line).to_owned())
}

/// A line without its `\n` or `\r\n`.
pub fn without_line_end(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Terminal echo switched off on stdin until dropped (POSIX termios, `ECHO` cleared).
struct EchoOff {
    saved: libc::termios,
}

impl EchoOff {
    fn new() -> std::io::Result<Self> {
        // SAFETY: tcgetattr fills the termios it is given; fd 0 is ours for the process's life.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // TCSAFLUSH: anything typed before the prompt (and so echoed) is not taken as the password.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` on the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}
