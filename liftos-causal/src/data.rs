//! [`CausalDataset`]: outcome, treatment, covariates, clusters, groups and weights,
//! checked once so that estimators can trust them.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;

use crate::{Error, Result};

/// The data an [`Estimator`](crate::Estimator) fits: one row per unit of observation
/// (for marketing, one campaign-day).
///
/// | Part | Meaning | Required |
/// |---|---|---|
/// | outcome `Y` | what the treatment changes (revenue, conversions) | yes |
/// | treatment `W` | continuous (spend, impressions) or binary (0/1) | yes |
/// | covariates `X` | named numeric controls (calendar, campaign attributes) | at least one |
/// | clusters | rows that are not independent (campaign, date); used for subsampling and standard errors | no (each row its own cluster) |
/// | groups | a label per row (channel) that results are reported by | no |
/// | weights | non-negative sample weights | no (all 1) |
///
/// Every value is checked: numbers must be finite, lengths must match, weights must be
/// non-negative with a positive sum. Errors name the column and row.
///
/// ```
/// use liftos_causal::CausalDataset;
/// let data = CausalDataset::new(&[3.0, 4.0, 5.0], &[1.0, 2.0, 3.0])?
///     .with_names("revenue", "spend")
///     .with_covariate("day_of_week", &[0.0, 1.0, 2.0])?
///     .with_clusters(&["a", "a", "b"])?
///     .with_groups(&["meta", "google_ads", "meta"])?;
/// assert_eq!(data.num_rows(), 3);
/// assert_eq!(data.num_clusters(), 2);
/// # Ok::<(), liftos_causal::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CausalDataset {
    outcome_name: String,
    treatment_name: String,
    outcome: Vec<f64>,
    treatment: Vec<f64>,
    covariate_names: Vec<String>,
    covariates: Vec<Vec<f64>>,
    clusters: Option<Labels>,
    nuisance_units: Option<Labels>,
    groups: Option<Labels>,
    weights: Option<Vec<f64>>,
}

/// Dense integer codes for a categorical column, with the label of each code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Labels {
    pub(crate) codes: Vec<u32>,
    pub(crate) labels: Vec<String>,
}

impl Labels {
    pub(crate) fn from_strings<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut labels = Vec::new();
        let codes = values
            .into_iter()
            .map(|v| {
                let v = v.as_ref();
                if let Some(&c) = index.get(v) {
                    c
                } else {
                    let c = labels.len() as u32;
                    index.insert(v.to_string(), c);
                    labels.push(v.to_string());
                    c
                }
            })
            .collect();
        Labels { codes, labels }
    }
}

fn check_finite(column: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(row) => Err(Error::NonFinite {
            column: column.to_string(),
            row,
            value: values[row],
        }),
        None => Ok(()),
    }
}

impl CausalDataset {
    /// A dataset from the outcome and treatment columns (named `outcome` and `treatment`
    /// until [`with_names`](Self::with_names)). Add covariates with
    /// [`with_covariate`](Self::with_covariate).
    pub fn new(outcome: &[f64], treatment: &[f64]) -> Result<Self> {
        if outcome.len() != treatment.len() {
            return Err(Error::LengthMismatch {
                column: "treatment".into(),
                expected: outcome.len(),
                found: treatment.len(),
            });
        }
        check_finite("outcome", outcome)?;
        check_finite("treatment", treatment)?;
        Ok(CausalDataset {
            outcome_name: "outcome".into(),
            treatment_name: "treatment".into(),
            outcome: outcome.to_vec(),
            treatment: treatment.to_vec(),
            covariate_names: Vec::new(),
            covariates: Vec::new(),
            clusters: None,
            nuisance_units: None,
            groups: None,
            weights: None,
        })
    }

    /// Names the outcome and treatment (used in results and error messages).
    pub fn with_names(mut self, outcome: &str, treatment: &str) -> Self {
        self.outcome_name = outcome.to_string();
        self.treatment_name = treatment.to_string();
        self
    }

    /// Adds a numeric covariate column.
    pub fn with_covariate(mut self, name: &str, values: &[f64]) -> Result<Self> {
        self.check_len(name, values.len())?;
        check_finite(name, values)?;
        if self.covariate_names.iter().any(|n| n == name) {
            return Err(Error::DuplicateColumn {
                column: name.to_string(),
            });
        }
        self.covariate_names.push(name.to_string());
        self.covariates.push(values.to_vec());
        Ok(self)
    }

    /// Adds several named covariate columns.
    pub fn with_covariates<'a, I>(mut self, columns: I) -> Result<Self>
    where
        I: IntoIterator<Item = (&'a str, &'a [f64])>,
    {
        for (name, values) in columns {
            self = self.with_covariate(name, values)?;
        }
        Ok(self)
    }

    /// Sets the cluster of each row (campaign, date, ...): rows of a cluster are sampled
    /// together and their scores summed before computing standard errors.
    pub fn with_clusters<S: AsRef<str>>(mut self, ids: &[S]) -> Result<Self> {
        self.check_len("clusters", ids.len())?;
        self.clusters = Some(Labels::from_strings(ids));
        Ok(self)
    }

    /// Sets integer cluster ids (any values; they are only compared for equality).
    pub fn with_cluster_ids(self, ids: &[u64]) -> Result<Self> {
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        self.with_clusters(&ids)
    }

    /// Sets the unit each row's out-of-bag nuisance predictions (Ŷ, Ŵ, V̂) leave out
    /// together, when rows are not sampled by cluster: in a panel, the rows of one day of
    /// campaigns whose spend moves in lockstep, so that a twin's row of the same day
    /// (whose spend is this row's, and whose revenue carries it) cannot stand in for the
    /// row itself; rows with labels of their own leave alone, as without units.
    pub fn with_nuisance_units<S: AsRef<str>>(mut self, ids: &[S]) -> Result<Self> {
        self.check_len("nuisance units", ids.len())?;
        self.nuisance_units = Some(Labels::from_strings(ids));
        Ok(self)
    }

    /// Dense codes of [`with_nuisance_units`](Self::with_nuisance_units), if given.
    pub fn nuisance_unit_codes(&self) -> Option<&[u32]> {
        self.nuisance_units.as_ref().map(|c| c.codes.as_slice())
    }

    /// Sets the group label of each row (for example the channel); results are reported
    /// per group.
    pub fn with_groups<S: AsRef<str>>(mut self, labels: &[S]) -> Result<Self> {
        self.check_len("groups", labels.len())?;
        self.groups = Some(Labels::from_strings(labels));
        Ok(self)
    }

    /// Sets non-negative sample weights (their sum must be positive).
    pub fn with_weights(mut self, weights: &[f64]) -> Result<Self> {
        self.check_len("weights", weights.len())?;
        check_finite("weights", weights)?;
        if let Some(row) = weights.iter().position(|w| *w < 0.0) {
            return Err(Error::param(
                "weights",
                format!("{} at row {row}", weights[row]),
                "non-negative weights",
            ));
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            return Err(Error::param(
                "weights",
                "all zero",
                "weights with a positive sum",
            ));
        }
        self.weights = Some(weights.to_vec());
        Ok(self)
    }

    fn check_len(&self, column: &str, found: usize) -> Result<()> {
        if found != self.outcome.len() {
            return Err(Error::LengthMismatch {
                column: column.to_string(),
                expected: self.outcome.len(),
                found,
            });
        }
        Ok(())
    }

    /// Reads a dataset from an Arrow table, taking each role from the named column.
    ///
    /// Numeric columns of any integer, float or boolean type are converted to `f64`;
    /// cluster and group columns may be of any type that casts to text (strings,
    /// integers, dates). A missing column, a non-numeric covariate, a null or a NaN is
    /// an error naming the column (and row).
    pub fn from_record_batch(batch: &RecordBatch, roles: &ColumnRoles) -> Result<Self> {
        let outcome = numeric_column(batch, &roles.outcome, "outcome")?;
        let treatment = numeric_column(batch, &roles.treatment, "treatment")?;
        let mut data = CausalDataset::new(&outcome, &treatment)
            .map_err(|e| rename_error(e, &roles.outcome, &roles.treatment))?
            .with_names(&roles.outcome, &roles.treatment);
        for name in &roles.covariates {
            let values = numeric_column(batch, name, "covariate")?;
            data = data.with_covariate(name, &values)?;
        }
        if let Some(name) = &roles.cluster {
            let ids = text_column(batch, name, "cluster")?;
            data = data.with_clusters(&ids)?;
        }
        if let Some(name) = &roles.group {
            let labels = text_column(batch, name, "group")?;
            data = data.with_groups(&labels)?;
        }
        if let Some(name) = &roles.weight {
            let w = numeric_column(batch, name, "weight")?;
            data = data.with_weights(&w)?;
        }
        Ok(data)
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.outcome.len()
    }
    /// The outcome's name.
    pub fn outcome_name(&self) -> &str {
        &self.outcome_name
    }
    /// The treatment's name.
    pub fn treatment_name(&self) -> &str {
        &self.treatment_name
    }
    /// The outcome `Y`.
    pub fn outcome(&self) -> &[f64] {
        &self.outcome
    }
    /// The treatment `W`.
    pub fn treatment(&self) -> &[f64] {
        &self.treatment
    }
    /// Covariate names, in column order.
    pub fn covariate_names(&self) -> &[String] {
        &self.covariate_names
    }
    /// Covariate columns, in the order of [`covariate_names`](Self::covariate_names).
    pub fn covariates(&self) -> &[Vec<f64>] {
        &self.covariates
    }
    /// The named covariate column, if present.
    pub fn covariate(&self, name: &str) -> Option<&[f64]> {
        self.covariate_names
            .iter()
            .position(|n| n == name)
            .map(|j| self.covariates[j].as_slice())
    }
    /// Dense cluster codes (0..num_clusters) per row; `None` when no clusters were given.
    pub fn cluster_codes(&self) -> Option<&[u32]> {
        self.clusters.as_ref().map(|c| c.codes.as_slice())
    }
    /// The number of clusters (the number of rows when no clusters were given).
    pub fn num_clusters(&self) -> usize {
        self.clusters
            .as_ref()
            .map_or(self.num_rows(), |c| c.labels.len())
    }
    /// Dense group codes per row and the label of each code; `None` without groups.
    pub fn groups(&self) -> Option<(&[u32], &[String])> {
        self.groups
            .as_ref()
            .map(|g| (g.codes.as_slice(), g.labels.as_slice()))
    }
    /// Sample weights, if given.
    pub fn weights(&self) -> Option<&[f64]> {
        self.weights.as_deref()
    }
    /// Whether the treatment only takes the values 0 and 1.
    pub fn treatment_is_binary(&self) -> bool {
        self.treatment.iter().all(|w| *w == 0.0 || *w == 1.0)
    }
}

fn rename_error(e: Error, outcome: &str, treatment: &str) -> Error {
    match e {
        Error::NonFinite { column, row, value } => Error::NonFinite {
            column: if column == "outcome" {
                outcome.to_string()
            } else {
                treatment.to_string()
            },
            row,
            value,
        },
        Error::LengthMismatch {
            expected, found, ..
        } => Error::LengthMismatch {
            column: treatment.to_string(),
            expected,
            found,
        },
        other => other,
    }
}

fn find_column<'a>(batch: &'a RecordBatch, name: &str, role: &'static str) -> Result<&'a ArrayRef> {
    let schema = batch.schema();
    match schema.index_of(name) {
        Ok(i) => Ok(batch.column(i)),
        Err(_) => Err(Error::MissingColumn {
            column: name.to_string(),
            role,
            available: liftos_core::column_list(&schema),
        }),
    }
}

fn first_null(array: &dyn Array) -> Option<usize> {
    (0..array.len()).find(|&i| array.is_null(i))
}

fn numeric_column(batch: &RecordBatch, name: &str, role: &'static str) -> Result<Vec<f64>> {
    let array = find_column(batch, name, role)?;
    let numeric = array.data_type().is_numeric() || matches!(array.data_type(), DataType::Boolean);
    if !numeric {
        return Err(Error::NonNumericColumn {
            example: String::new(),
            column: name.to_string(),
            role,
            data_type: array.data_type().to_string(),
        });
    }
    if let Some(row) = first_null(array.as_ref()) {
        return Err(Error::NullValue {
            column: name.to_string(),
            row,
        });
    }
    let as_f64 = cast(array, &DataType::Float64)?;
    let values: Vec<f64> = as_f64.as_primitive::<Float64Type>().values().to_vec();
    check_finite(name, &values)?;
    Ok(values)
}

/// A numeric covariate column of a table, as `f64` (used for prediction on new tables).
pub(crate) fn numeric_column_of(batch: &RecordBatch, name: &str) -> Result<Vec<f64>> {
    numeric_column(batch, name, "covariate")
}

fn text_column(batch: &RecordBatch, name: &str, role: &'static str) -> Result<Vec<String>> {
    let array = find_column(batch, name, role)?;
    if let Some(row) = first_null(array.as_ref()) {
        return Err(Error::NullValue {
            column: name.to_string(),
            row,
        });
    }
    let text = cast(array, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    Ok((0..text.len()).map(|i| text.value(i).to_string()).collect())
}

/// Which column of an input table plays which role in a [`CausalDataset`].
///
/// | Field | Default | Meaning |
/// |---|---|---|
/// | `outcome` | (required) | outcome column, numeric |
/// | `treatment` | (required) | treatment column, numeric or boolean |
/// | `covariates` | none | numeric control columns |
/// | `cluster` | none | cluster id column (any type) |
/// | `group` | none | group label column (any type), e.g. `channel` |
/// | `weight` | none | non-negative sample weight column |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRoles {
    /// The outcome column.
    pub outcome: String,
    /// The treatment column.
    pub treatment: String,
    /// The covariate columns.
    pub covariates: Vec<String>,
    /// The cluster id column.
    pub cluster: Option<String>,
    /// The group label column.
    pub group: Option<String>,
    /// The sample weight column.
    pub weight: Option<String>,
}

impl ColumnRoles {
    /// Roles with the given outcome and treatment columns and nothing else.
    pub fn new(outcome: &str, treatment: &str) -> Self {
        ColumnRoles {
            outcome: outcome.to_string(),
            treatment: treatment.to_string(),
            covariates: Vec::new(),
            cluster: None,
            group: None,
            weight: None,
        }
    }
    /// Sets the covariate columns.
    pub fn with_covariates<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.covariates = names.into_iter().map(|s| s.as_ref().to_string()).collect();
        self
    }
    liftos_core::setters! {
        /// Sets the cluster column.
        with_cluster(name: &str) => self.cluster = Some(name.to_string());
        /// Sets the group column.
        with_group(name: &str) => self.group = Some(name.to_string());
        /// Sets the weight column.
        with_weight(name: &str) => self.weight = Some(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "revenue",
                Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as ArrayRef,
            ),
            (
                "spend",
                Arc::new(Int64Array::from(vec![1, 0, 2])) as ArrayRef,
            ),
            (
                "dow",
                Arc::new(Float64Array::from(vec![0.0, 1.0, 2.0])) as ArrayRef,
            ),
            (
                "channel",
                Arc::new(StringArray::from(vec!["meta", "meta", "google"])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn reads_roles_from_a_batch() {
        let roles = ColumnRoles::new("revenue", "spend")
            .with_covariates(["dow"])
            .with_group("channel");
        let d = CausalDataset::from_record_batch(&batch(), &roles).unwrap();
        assert_eq!(d.treatment(), &[1.0, 0.0, 2.0]);
        assert_eq!(d.covariate("dow"), Some(&[0.0, 1.0, 2.0][..]));
        let (codes, labels) = d.groups().unwrap();
        assert_eq!(codes, &[0, 0, 1]);
        assert_eq!(labels, &["meta".to_string(), "google".to_string()]);
        assert_eq!(d.num_clusters(), 3);
    }

    #[test]
    fn clear_errors_for_bad_columns() {
        let roles = ColumnRoles::new("revenue", "spend").with_covariates(["nope"]);
        let e = CausalDataset::from_record_batch(&batch(), &roles).unwrap_err();
        assert!(
            matches!(&e, Error::MissingColumn { column, .. } if column == "nope"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("available columns: revenue, spend, dow, channel"),
            "{e}"
        );

        let roles = ColumnRoles::new("revenue", "spend").with_covariates(["channel"]);
        let e = CausalDataset::from_record_batch(&batch(), &roles).unwrap_err();
        assert!(matches!(e, Error::NonNumericColumn { .. }), "{e}");

        let e = CausalDataset::new(&[1.0, f64::NAN], &[0.0, 1.0]).unwrap_err();
        assert!(matches!(e, Error::NonFinite { row: 1, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "column `outcome` has the non-finite value NaN at row 1"
        );

        let e = CausalDataset::new(&[1.0], &[1.0])
            .unwrap()
            .with_covariate("x", &[1.0, 2.0])
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::LengthMismatch {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn nulls_are_reported_with_their_row() {
        let b = RecordBatch::try_from_iter(vec![
            (
                "y",
                Arc::new(Float64Array::from(vec![Some(1.0), None])) as ArrayRef,
            ),
            (
                "w",
                Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let e = CausalDataset::from_record_batch(&b, &ColumnRoles::new("y", "w")).unwrap_err();
        assert!(
            matches!(&e, Error::NullValue { column, row: 1 } if column == "y"),
            "{e}"
        );
    }
}
