//! mtkflash: thin binary over the library.

fn main() {
    mtkflash::interrupt::install();
    let code = mtkflash::cli::main_with(std::env::args().collect());
    std::process::exit(code);
}
