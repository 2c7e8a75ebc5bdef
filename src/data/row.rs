//! One row of a data file, as the templates of one iteration read it.

use std::sync::Arc;

/// The fields of one data row that the scenario's templates use (`{{ row.FIELD }}`), and only
/// those: a wide file costs no more memory per iteration than the fields it needs.
///
/// A row that could not be read back at run time (the file changed after it was checked)
/// carries the reason instead, and a template that reads it fails with that reason: the
/// request is not sent with an empty value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    fields: Arc<[String]>,
    values: Result<Box<[String]>, Arc<str>>,
}

impl Row {
    /// A row holding `values` of `fields`, in the same order.
    pub fn new(fields: Arc<[String]>, values: Vec<String>) -> Row {
        debug_assert_eq!(fields.len(), values.len());
        Row {
            fields,
            values: Ok(values.into_boxed_slice()),
        }
    }

    /// A row that could not be read, and why.
    pub fn unreadable(fields: Arc<[String]>, problem: String) -> Row {
        Row {
            fields,
            values: Err(problem.into()),
        }
    }

    /// The value of `field`, or why there is none.
    pub fn get(&self, field: &str) -> Result<&str, String> {
        let values = self
            .values
            .as_ref()
            .map_err(|problem| problem.to_string())?;
        self.fields
            .iter()
            .position(|f| f == field)
            .and_then(|at| values.get(at))
            .map(String::as_str)
            .ok_or_else(|| format!("the data row has no field {field:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_by_name_and_an_unreadable_row_says_why() {
        let fields: Arc<[String]> = vec!["user".to_string(), "email".to_string()].into();
        let row = Row::new(Arc::clone(&fields), vec!["ann".into(), "a@x".into()]);
        assert_eq!(row.get("email"), Ok("a@x"));
        assert_eq!(row.get("user"), Ok("ann"));
        assert_eq!(
            row.get("id"),
            Err("the data row has no field \"id\"".to_string())
        );
        let broken = Row::unreadable(fields, "users.csv: row 3: short read".into());
        assert_eq!(
            broken.get("user"),
            Err("users.csv: row 3: short read".into())
        );
    }
}
