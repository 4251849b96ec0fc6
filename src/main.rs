//! mtkflash: thin binary over the library.

fn main() {
    mtkflash::interrupt::install();
    let code = mtkflash::cli::main_os(std::env::args_os().collect());
    std::process::exit(code);
}
