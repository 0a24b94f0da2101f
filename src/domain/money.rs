//! Money in integer minor units with an ISO 4217 currency.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A three-letter ISO 4217 currency code; every supported currency has two minor digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Result<Self, String> {
        let b = code.as_bytes();
        if b.len() != 3 || !b.iter().all(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "`{code}` is not a three-letter upper-case currency code"
            ));
        }
        Ok(Currency([b[0], b[1], b[2]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Digits after the decimal point. All currencies Orderflow accepts use two.
    pub fn minor_digits(&self) -> u32 {
        2
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD). Never negative for prices and totals.
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currencies differ: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflows")]
    Overflow,
    #[error("{0}")]
    Parse(String),
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_mul(self, factor: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(i64::from(factor))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Parse a decimal such as `19.99` or `5` in this currency, exactly (no float rounding).
    /// More fraction digits than the currency has is an error, not a rounding.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let digits = currency.minor_digits() as usize;
        let err = || MoneyError::Parse(format!("`{text}` is not a decimal amount like 19.99"));
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty()
            || whole.len() > 12
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && frac.is_empty())
        {
            return Err(err());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > digits {
            return Err(MoneyError::Parse(format!(
                "`{text}` has more than {digits} decimal places"
            )));
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let mut minor: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            minor += i64::from(b - b'0') * 10_i64.pow((digits - 1 - i) as u32);
        }
        let amount = whole
            .checked_mul(10_i64.pow(digits as u32))
            .and_then(|w| w.checked_add(minor))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, currency))
    }

    /// `19.99`: the amount as a decimal string without the currency.
    pub fn to_decimal_string(&self) -> String {
        let digits = self.currency.minor_digits();
        let scale = 10_i64.pow(digits);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / scale as u64,
            abs % scale as u64,
            width = digits as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(a: i64) -> Money {
        Money::new(a, Currency::USD)
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(
            Money::parse_decimal("19.99", Currency::USD).unwrap(),
            usd(1999)
        );
        assert_eq!(Money::parse_decimal("5", Currency::USD).unwrap(), usd(500));
        assert_eq!(
            Money::parse_decimal("5.5", Currency::USD).unwrap(),
            usd(550)
        );
        assert_eq!(
            Money::parse_decimal("0.10", Currency::USD).unwrap(),
            usd(10)
        );
        assert_eq!(
            Money::parse_decimal("12.300", Currency::USD).unwrap(),
            usd(1230)
        );
    }

    #[test]
    fn rejects_bad_decimals() {
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1e3",
            "19.999",
            "abc",
            "1.2.3",
            " 1",
            "9999999999999",
        ] {
            assert!(Money::parse_decimal(bad, Currency::USD).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_decimals() {
        assert_eq!(usd(1999).to_decimal_string(), "19.99");
        assert_eq!(usd(5).to_decimal_string(), "0.05");
        assert_eq!(usd(-150).to_decimal_string(), "-1.50");
        assert_eq!(usd(1999).to_string(), "19.99 USD");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(usd(100).checked_add(usd(250)).unwrap(), usd(350));
        assert_eq!(usd(100).checked_mul(3).unwrap(), usd(300));
        let eur = Money::new(1, Currency::parse("EUR").unwrap());
        assert!(matches!(
            usd(1).checked_add(eur),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
    }

    #[test]
    fn currency_codes_are_validated() {
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("US").is_err());
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
    }
}
