//! The province's reference data, built into the binary: the industrial parks with their towns,
//! areas, infrastructure companies and years (`src/generate/data/parks.csv`), the tenants' industries
//! with their VSIC 2018 codes and estimated shares (`industries.csv`), and the kinds of incident
//! seen in and near the parks (`env_incidents.csv`). Values the sources mark uncertain (a trailing
//! `?`) are used as they are, without the mark; a missing one is filled in plausibly.

use rand::seq::IndexedRandom as _;
use serde::Deserialize;

const PARKS: &str = include_str!("data/parks.csv");
const INDUSTRIES: &str = include_str!("data/industries.csv");

#[derive(Debug, Deserialize)]
struct ParkRow {
    code: String,
    name_vi: String,
    district_or_city: String,
    area_ha: String,
    infrastructure_company: String,
    established_year: String,
}

#[derive(Debug, Deserialize)]
struct IndustryRow {
    industry_vi: String,
    vsic2018_level2: String,
    vsic2018_level4_example: String,
    share_pct_est: String,
}

/// A park of the reference data.
#[derive(Debug, Clone)]
pub struct ParkData {
    pub code: String,
    pub name: String,
    pub town: String,
    /// Hectares, as the registry takes them ("138.7").
    pub area_ha: String,
    /// The index of its company in [`Province::companies`].
    pub company: usize,
    /// The year it was established (its company runs it from then).
    pub established: i32,
}

/// An infrastructure company of the reference data.
#[derive(Debug, Clone)]
pub struct CompanyData {
    pub name: String,
    pub enterprise_code: String,
}

/// An industry of the reference data.
#[derive(Debug, Clone)]
pub struct Industry {
    pub name: String,
    /// The VSIC 2018 codes a tenant of this industry is registered with (level 4 where the data
    /// gives an example, else level 2).
    pub codes: Vec<String>,
    /// Its estimated share of tenants, in percent.
    pub share: u32,
}

/// The reference data, parsed.
#[derive(Debug, Clone)]
pub struct Province {
    pub parks: Vec<ParkData>,
    pub companies: Vec<CompanyData>,
    pub industries: Vec<Industry>,
}

fn clean(value: &str) -> &str {
    value.trim().trim_end_matches('?').trim()
}

/// A stable ten-digit enterprise code for the `n`th company: Bình Dương's codes start with 37.
fn company_code(n: usize) -> String {
    format!("{}", 3_700_100_000u64 + n as u64 * 137)
}

impl Province {
    /// Parses the built-in reference data.
    ///
    /// # Panics
    ///
    /// Never for the data built into the binary (a test parses it).
    pub fn load() -> Self {
        let mut companies: Vec<CompanyData> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut parks = Vec::new();
        let mut reader = csv::Reader::from_reader(PARKS.as_bytes());
        for row in reader.deserialize::<ParkRow>() {
            let row = row.expect("the built-in parks.csv parses");
            let name = clean(&row.name_vi).to_owned();
            let company_text = clean(&row.infrastructure_company);
            // The same company is named with and without its Vietnamese name in brackets.
            let (key, display) = if company_text.is_empty() {
                let display = format!(
                    "CTCP Phát triển hạ tầng {}",
                    name.trim_start_matches("KCN ")
                );
                (display.clone(), display)
            } else {
                let key = company_text
                    .split(" (")
                    .next()
                    .unwrap_or(company_text)
                    .trim()
                    .to_owned();
                let display = company_text
                    .split_once(" (")
                    .and_then(|(_, inner)| inner.strip_suffix(')'))
                    .filter(|inner| inner.starts_with("CTCP") || inner.starts_with("Cty"))
                    .unwrap_or(company_text)
                    .to_owned();
                (key, display)
            };
            let company = match keys.iter().position(|k| *k == key) {
                Some(i) => {
                    // Prefer the Vietnamese name when a later row gives it.
                    if companies[i].name == key && display != key {
                        companies[i].name = display;
                    }
                    i
                }
                None => {
                    keys.push(key);
                    companies.push(CompanyData {
                        name: display,
                        enterprise_code: company_code(companies.len()),
                    });
                    companies.len() - 1
                }
            };
            let area = clean(&row.area_ha);
            let area = if area.is_empty() { "150" } else { area };
            let established = clean(&row.established_year).parse().unwrap_or(2008);
            parks.push(ParkData {
                code: row.code.trim().to_owned(),
                name,
                town: clean(&row.district_or_city).to_owned(),
                area_ha: area.to_owned(),
                company,
                established,
            });
        }
        let mut industries = Vec::new();
        let mut reader = csv::Reader::from_reader(INDUSTRIES.as_bytes());
        for row in reader.deserialize::<IndustryRow>() {
            let row = row.expect("the built-in industries.csv parses");
            let examples: Vec<String> = row
                .vsic2018_level4_example
                .split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            let codes = if examples.is_empty() {
                row.vsic2018_level2
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .collect()
            } else {
                examples
            };
            industries.push(Industry {
                name: row.industry_vi.trim().to_owned(),
                codes,
                share: clean(&row.share_pct_est).parse().unwrap_or(1),
            });
        }
        Self {
            parks,
            companies,
            industries,
        }
    }

    /// An industry drawn with the published shares.
    pub fn industry(&self, rng: &mut impl rand::Rng) -> &Industry {
        let total: u32 = self.industries.iter().map(|i| i.share).sum();
        let mut pick = rng.random_range(0..total.max(1));
        for industry in &self.industries {
            if pick < industry.share {
                return industry;
            }
            pick -= industry.share;
        }
        &self.industries[0]
    }
}

const FOREIGN_STEMS: &[&str] = &[
    "Sunrise",
    "Pacific",
    "Hwaseung",
    "Taekwang",
    "Shin Heung",
    "Kumho",
    "Formosa",
    "Nitori",
    "Kyoei",
    "Yazaki",
    "Hanwha",
    "Greenfield",
    "Evergreen",
    "Asia Pacific",
    "Maxport",
    "Lotus",
    "Orient",
    "Golden Star",
    "Tai Ming",
    "Jiangsu",
    "Hsin Yi",
    "Nippon",
    "Daewon",
    "Shinsung",
];
const DOMESTIC_STEMS: &[&str] = &[
    "Minh Phát",
    "Hoàng Gia",
    "Thành Công",
    "Phú Cường",
    "Tân Tiến",
    "Đại Lộc",
    "Hưng Phát",
    "An Phú",
    "Việt Tiến",
    "Bình Minh",
    "Thuận Thành",
    "Kim Long",
    "Trường Sơn",
    "Nam Việt",
    "Đông Á",
    "Sao Mai",
    "Phước Hòa",
    "Quang Minh",
    "Toàn Thắng",
    "Thịnh Vượng",
];

/// A tenant's name for its industry (foreign-invested ones with an international stem and
/// "Việt Nam"), made unique with its number.
pub fn tenant_name(
    rng: &mut impl rand::Rng,
    industry: &Industry,
    foreign: bool,
    n: usize,
) -> String {
    let trade = industry
        .name
        .split([';', ','])
        .next()
        .unwrap_or("Sản xuất")
        .trim()
        .to_lowercase();
    if foreign {
        let stem = FOREIGN_STEMS.choose(rng).copied().unwrap_or("Pacific");
        format!("Công ty TNHH {stem} Việt Nam {n} ({trade})")
    } else {
        let stem = DOMESTIC_STEMS.choose(rng).copied().unwrap_or("Minh Phát");
        let form = if rng.random_bool(0.6) {
            "Công ty TNHH"
        } else {
            "Công ty Cổ phần"
        };
        format!("{form} {stem} {n} ({trade})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_reference_data_parses_into_the_provinces_parks_and_industries() {
        let p = Province::load();
        assert_eq!(p.parks.len(), 34);
        assert!(p.parks.iter().any(|park| park.code == "DONGAN-1"));
        let becamex = p
            .companies
            .iter()
            .position(|c| c.name == "Becamex IDC")
            .expect("Becamex IDC runs several parks");
        assert!(
            p.parks
                .iter()
                .filter(|park| park.company == becamex)
                .count()
                >= 5
        );
        // Named with and without its Vietnamese name: one company.
        let hung_thinh: Vec<_> = p
            .companies
            .iter()
            .filter(|c| c.name.contains("Hưng Thịnh"))
            .collect();
        assert_eq!(hung_thinh.len(), 1, "{hung_thinh:?}");
        assert_eq!(hung_thinh[0].name, "CTCP TM-SX Hưng Thịnh");
        assert!(p.parks.iter().all(|park| !park.area_ha.contains('?')));
        let codes: std::collections::HashSet<_> =
            p.companies.iter().map(|c| &c.enterprise_code).collect();
        assert_eq!(codes.len(), p.companies.len());
        assert_eq!(p.industries.len(), 13);
        assert!(
            p.industries
                .iter()
                .flat_map(|i| &i.codes)
                .all(|c| (2..=5).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
        );
    }
}
