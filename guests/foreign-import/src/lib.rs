//! A connector that imports an interface Wharf does not provide
//! (`hostile:foreign/raw-socket`). Wharf must refuse it at load and name the
//! import.
#![allow(unsafe_code)]

wit_bindgen::generate!({
    inline: r#"
        package hostile:foreign;
        interface raw-socket {
            connect: func(addr: string) -> u32;
        }
        world foreign {
            import raw-socket;
            export wharf:connector/connector@0.1.0;
        }
    "#,
    path: "../../wit/0.1.0",
    world: "hostile:foreign/foreign",
    generate_all,
});

use exports::wharf::connector::connector::Guest;
use wharf::connector::types::{ConnectorSpec, Error, Incoming, Page, PushResult, Record, Role};

struct Foreign;

impl Guest for Foreign {
    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "foreign-import".into(),
            version: "0.1.0".into(),
            description: String::new(),
            roles: vec![Role::Source],
            streams: vec![],
            config_schema: "{}".into(),
            secrets: vec![],
            hosts: vec![],
            oauth2: None,
            webhook: None,
        }
    }
    fn check(_: String) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn fetch(_: String, _: String, _: Option<String>) -> Result<Page, Error> {
        let fd = hostile::foreign::raw_socket::connect("169.254.169.254:80");
        Err(Error::Fatal(format!("opened {fd}")))
    }
    fn map(_: String, _: Vec<Record>) -> Result<Vec<Record>, Error> {
        Err(Error::Unsupported)
    }
    fn push(_: String, _: Vec<Record>) -> Result<PushResult, Error> {
        Err(Error::Unsupported)
    }
    fn receive(_: String, _: Incoming) -> Result<Vec<Record>, Error> {
        Err(Error::Unsupported)
    }
}

#[cfg(target_arch = "wasm32")]
export!(Foreign);
