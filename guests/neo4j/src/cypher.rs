//! The Cypher statements the connector sends, one per batch and shape.
//!
//! Labels, relationship types and property names cannot be parameters in
//! Cypher, so they are written into the statement, always quoted as
//! identifiers (backticks doubled); values only ever travel as parameters
//! (`$rows`), never in the statement text.

/// An identifier quoted for Cypher: `` `Sales Order` ``, with backticks
/// doubled so a name cannot close the quote.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Upsert nodes: `$rows` is `[{key, props}]`.
pub fn merge_nodes(label: &str, key: &str) -> String {
    format!(
        "UNWIND $rows AS row MERGE (n:{} {{{}: row.key}}) SET n += row.props",
        ident(label),
        ident(key)
    )
}

/// Delete nodes and their relationships: `$rows` is `[{key}]`.
pub fn delete_nodes(label: &str, key: &str) -> String {
    format!(
        "UNWIND $rows AS row MATCH (n:{} {{{}: row.key}}) DETACH DELETE n",
        ident(label),
        ident(key)
    )
}

/// Both ends of a relationship, merged by their keys, and the relationship
/// between them: `$rows` is `[{from, to, props}]`.
pub fn merge_relationship(from: (&str, &str), kind: &str, to: (&str, &str)) -> String {
    format!(
        "UNWIND $rows AS row MERGE (a:{} {{{}: row.from}}) MERGE (b:{} {{{}: row.to}}) MERGE (a)-[r:{}]->(b) SET r += row.props",
        ident(from.0),
        ident(from.1),
        ident(to.0),
        ident(to.1),
        ident(kind)
    )
}

/// Delete the relationship between two keys: `$rows` is `[{from, to}]`.
pub fn delete_relationship(from: (&str, &str), kind: &str, to: (&str, &str)) -> String {
    format!(
        "UNWIND $rows AS row MATCH (a:{} {{{}: row.from}})-[r:{}]->(b:{} {{{}: row.to}}) DELETE r",
        ident(from.0),
        ident(from.1),
        ident(kind),
        ident(to.0),
        ident(to.1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_values_are_parameters() {
        assert_eq!(
            merge_nodes("Sales Order", "id"),
            "UNWIND $rows AS row MERGE (n:`Sales Order` {`id`: row.key}) SET n += row.props"
        );
        assert_eq!(ident("a`) DETACH DELETE (x"), "`a``) DETACH DELETE (x`");
        assert_eq!(
            merge_relationship(("Customer", "id"), "PLACED", ("Order", "id")),
            "UNWIND $rows AS row MERGE (a:`Customer` {`id`: row.from}) MERGE (b:`Order` {`id`: row.to}) MERGE (a)-[r:`PLACED`]->(b) SET r += row.props"
        );
    }
}
