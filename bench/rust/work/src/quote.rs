//! The JSON workload: an [`Order`] in, a [`Quote`] out. Small on purpose
//! (a few hundred bytes of JSON each way): what it measures is each
//! transport's JSON path — encode, move, decode, compute, encode, move,
//! decode — not the arithmetic.

use serde::{Deserialize, Serialize};

/// One order line.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Item {
    /// Stock keeping unit.
    pub sku: String,
    /// Units ordered.
    pub qty: u32,
    /// Price of one unit in cents.
    pub unit_cents: u64,
}

/// The request.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Order {
    /// Order id, echoed in the quote.
    pub id: u64,
    /// Customer name.
    pub customer: String,
    /// The lines.
    pub items: Vec<Item>,
    /// `"TENOFF"` takes 10% off the total (rounded down); anything else
    /// or none takes nothing.
    #[serde(default)]
    pub coupon: Option<String>,
}

/// The answer.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Quote {
    /// The order's id.
    pub id: u64,
    /// The customer name, ASCII uppercase.
    pub customer: String,
    /// Number of lines.
    pub lines: u32,
    /// Units over all lines.
    pub units: u64,
    /// Sum of qty x unit_cents, less the coupon (wrapping arithmetic).
    pub total_cents: u64,
}

/// Price `order`.
pub fn quote(order: &Order) -> Quote {
    let mut units = 0u64;
    let mut total = 0u64;
    for it in &order.items {
        units = units.wrapping_add(u64::from(it.qty));
        total = total.wrapping_add(u64::from(it.qty).wrapping_mul(it.unit_cents));
    }
    if order.coupon.as_deref() == Some("TENOFF") {
        total -= total / 10;
    }
    Quote {
        id: order.id,
        customer: order.customer.to_ascii_uppercase(),
        lines: order.items.len() as u32,
        units,
        total_cents: total,
    }
}

/// [`quote`] from JSON bytes to JSON bytes (serde_json both ways).
pub fn quote_json(input: &[u8]) -> serde_json::Result<Vec<u8>> {
    let order: Order = serde_json::from_slice(input)?;
    serde_json::to_vec(&quote(&order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_applies_the_coupon() {
        let o = Order {
            id: 7,
            customer: "ada".into(),
            items: vec![
                Item {
                    sku: "a".into(),
                    qty: 2,
                    unit_cents: 150,
                },
                Item {
                    sku: "b".into(),
                    qty: 1,
                    unit_cents: 700,
                },
            ],
            coupon: Some("TENOFF".into()),
        };
        let q = quote(&o);
        assert_eq!(
            (q.id, q.customer.as_str(), q.lines, q.units, q.total_cents),
            (7, "ADA", 2, 3, 900)
        );
    }
}
