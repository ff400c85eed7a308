//! Country and region of the caller's address, from a MaxMind-format database (GeoLite2 or
//! GeoIP2 City or Country, or any database with the same shape), looked up before the IP policy
//! drops or truncates the address.

use std::net::IpAddr;

use serde::Deserialize;

/// Where a caller is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Geo {
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: Option<String>,
    /// ISO 3166-2, e.g. `DE-BY`: the country's code and the first (largest) subdivision's.
    pub region: Option<String>,
}

/// The two values read from a record; the rest of it (names in many languages, coordinates) is
/// skipped, not decoded.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Place<'a>>,
    /// Where the network is registered: the fallback when the country is unknown (some
    /// anonymous and satellite networks).
    #[serde(borrow, default)]
    registered_country: Option<Place<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Place<'a>>>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// A database that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("the GeoIP database {origin} cannot be read: {source}")]
pub struct GeoDbError {
    pub origin: String,
    #[source]
    pub source: maxminddb::MaxMindDbError,
}

/// An open database, held in memory for the life of the function.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl GeoDb {
    /// Opens a database from its bytes; `origin` (a path or an S3 URI) names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, origin: &str) -> Result<GeoDb, GeoDbError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|source| GeoDbError {
            origin: origin.to_string(),
            source,
        })?;
        Ok(GeoDb { reader })
    }

    /// The database's type as its metadata names it (`GeoLite2-City`, ...), for the cold-start log.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Where `ip` is; empty when the address is not an IP, not in the database, or its record
    /// has no country. A lookup never fails a request.
    pub fn lookup(&self, ip: &str) -> Geo {
        let Ok(addr) = ip.parse::<IpAddr>() else {
            return Geo::default();
        };
        let record = match self
            .reader
            .lookup(addr)
            .and_then(|r| r.decode::<Record<'_>>())
        {
            Ok(Some(record)) => record,
            _ => return Geo::default(),
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .or_else(|| record.registered_country.and_then(|c| c.iso_code));
        let region = match (country, record.subdivisions.as_deref()) {
            (Some(country), Some([first, ..])) => {
                first.iso_code.map(|code| format!("{country}-{code}"))
            }
            _ => None,
        };
        Geo {
            country: country.map(str::to_string),
            region,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_a_database_say_which_file() {
        let err = GeoDb::from_bytes(b"not a database".to_vec(), "/opt/geo.mmdb")
            .err()
            .unwrap();
        assert!(err.to_string().contains("/opt/geo.mmdb"), "{err}");
    }
}
