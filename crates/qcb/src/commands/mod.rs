pub mod demo;
pub mod emulator;
