//! A component that implements a contract version this host does not know
//! (`wharf:connector/connector@9.0.0`). Wharf must refuse it at load and
//! say which version it supports.
#![allow(unsafe_code)]

wit_bindgen::generate!({
    inline: r#"
        package wharf:connector@9.0.0;
        interface connector {
            spec: func() -> string;
        }
        world later {
            export connector;
        }
    "#,
    world: "wharf:connector/later@9.0.0",
});

struct Future;

impl exports::wharf::connector::connector::Guest for Future {
    fn spec() -> String {
        "from the future".into()
    }
}

#[cfg(target_arch = "wasm32")]
export!(Future);
