//! A WASI command (exports `wasi:cli/run`): a component, but not a
//! connector. Wharf must refuse it at load, naming what it exports instead.

fn main() {
    println!("I am not a connector");
}
