//! The product catalog seeded into the order store on start-up.

use crate::domain::Product;
use anyhow::Context;
use serde::Deserialize;
use std::path::Path;

/// The catalog shipped in the repository (`catalog/products.json`), built into the binary.
pub const BUILT_IN: &str = include_str!("../catalog/products.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    products: Vec<Product>,
}

/// Parses a catalog document, rejecting duplicates and empty names.
pub fn parse(json: &str) -> anyhow::Result<Vec<Product>> {
    let file: CatalogFile =
        serde_json::from_str(json).context("catalog is not valid catalog JSON")?;
    let mut seen = std::collections::HashSet::new();
    for p in &file.products {
        anyhow::ensure!(
            seen.insert(p.product_id.clone()),
            "catalog lists {} twice",
            p.product_id
        );
        anyhow::ensure!(
            !p.name.trim().is_empty(),
            "catalog product {} has no name",
            p.product_id
        );
        anyhow::ensure!(
            p.unit_price.amount >= 0,
            "catalog product {} has a negative price",
            p.product_id
        );
    }
    Ok(file.products)
}

/// Loads `file` when given, else the built-in catalog.
pub fn load(file: Option<&Path>) -> anyhow::Result<Vec<Product>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading catalog.file {}", path.display()))?;
            parse(&text).with_context(|| format!("in catalog.file {}", path.display()))
        }
        None => parse(BUILT_IN),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn built_in_catalog_parses() {
        let products = super::load(None).unwrap();
        assert!(products.len() >= 12);
    }

    #[test]
    fn duplicates_are_rejected() {
        let p = r#"{"productId":"a","name":"A","description":"","unitPrice":{"amount":1,"currency":"USD"},"stock":1}"#;
        assert!(super::parse(&format!(r#"{{"products":[{p},{p}]}}"#)).is_err());
    }
}
