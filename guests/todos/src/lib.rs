//! A source for a todo-list API: `GET {base_url}/todos?page=N` returns a
//! JSON array of todos, an empty one after the last page.

use serde::Deserialize;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

#[derive(Deserialize)]
pub struct Config {
    base_url: String,
}

const TOKEN: Secret = Secret::new("api_token");

pub struct Todos;

impl Connector for Todos {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("todos", "0.1.0")
            .description("Todos from the Todo API")
            .role(Role::Source)
            .stream(StreamSpec::new("todos").key_field("id").schema(json!({
                "type": "object",
                "required": ["id", "title"],
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": "string"},
                    "done": {"type": "boolean"}
                }
            })))
            .config_schema(json!({
                "type": "object",
                "required": ["base_url"],
                "properties": {"base_url": {"type": "string", "format": "uri"}}
            }))
            .host("{config.base_url}")
            .secret(
                SecretSpec::new("api_token")
                    .description("API token of the Todo API")
                    .host("{config.base_url}"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        Request::get(format!("{}/todos", config.base_url))
            .query("page", 1)
            .bearer(&TOKEN)
            .send()?
            .error_for_status()?;
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != "todos" {
            return Err(Error::Config(format!("unknown stream `{stream}`")));
        }
        let page: u32 = match cursor {
            Some(c) => c
                .parse()
                .map_err(|_| Error::Fatal(format!("bad cursor `{c}`")))?,
            None => 1,
        };
        let todos: Vec<Value> = Request::get(format!("{}/todos", config.base_url))
            .query("page", page)
            .bearer(&TOKEN)
            .send()?
            .error_for_status()?
            .json()?;
        wharf_sdk::info!("page {page}: {} todos", todos.len());
        let more = !todos.is_empty();
        let records = todos
            .into_iter()
            .map(|todo| Record::from_value("todos", todo).map(|r| r.key_from("id")))
            .collect::<Result<Vec<_>>>()?;
        // Resume at the next page; after the last one, start over next run.
        let cursor = more.then(|| (page + 1).to_string());
        Ok(Page::new(records, cursor, more))
    }
}

export_connector!(Todos);
