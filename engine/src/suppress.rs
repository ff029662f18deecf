//! Small-cell suppression of a two-way count table with its totals.
//!
//! A partner receives a table of counts (regions × periods) with each region's total, each
//! period's total and the grand total. **Primary suppression** hides every published count in
//! 1..k−1 (cells and totals alike): a small count can point at a few incidents or people.
//! **Complementary suppression** then hides more cells so that no hidden value can be recovered
//! by subtracting published values from a published total: a line (a row or column of the table
//! with its margin) holding exactly one hidden entry would give it away, so while any line has
//! exactly one, one more entry of that line is hidden: the smallest non-zero cell (then a zero
//! cell, then the line's total), ties to the first. Hiding only ever grows, so this ends.
//!
//! Why by hand: no Rust crate does statistical disclosure control (sdcTable and tau-argus are R
//! and Java). The rule here is the line rule, which the partner-export tests check on random
//! and real tables. It does not solve the full linear system an attacker could set up across
//! several lines at once (a hidden cell that bridges two otherwise separate groups of hidden
//! cells can in principle be pinned down); the export README says so, and noise (where the
//! agreement sets a privacy budget) is the answer to that stronger attacker.

/// How an entry of the exported table is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Published as is.
    Published,
    /// Hidden: its value is in 1..k−1.
    Primary,
    /// Hidden so that a primary one cannot be recovered from totals.
    Complementary,
}

impl Flag {
    /// Whether the value is hidden.
    pub fn hidden(self) -> bool {
        self != Flag::Published
    }

    /// Name in the exported table (`null` for published).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Flag::Published => None,
            Flag::Primary => Some("primary"),
            Flag::Complementary => Some("complementary"),
        }
    }
}

/// A count table with its margins and the flags that suppression set.
///
/// `values[r][c]` for `r < rows`, `c < cols` are the cells; `values[r][cols]` is row `r`'s
/// total, `values[rows][c]` column `c`'s total and `values[rows][cols]` the grand total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedTable {
    /// Number of rows (regions).
    pub rows: usize,
    /// Number of columns (periods).
    pub cols: usize,
    /// `(rows + 1) × (cols + 1)` values, margins last.
    pub values: Vec<Vec<i64>>,
    /// Their flags.
    pub flags: Vec<Vec<Flag>>,
}

impl SuppressedTable {
    /// Every line of the table as the positions it holds: each row with its total, each column
    /// with its total, and the margins (row totals with the grand total, column totals with it).
    pub fn lines(&self) -> Vec<Vec<(usize, usize)>> {
        let mut out = Vec::with_capacity(self.rows + self.cols + 2);
        for r in 0..=self.rows {
            out.push((0..=self.cols).map(|c| (r, c)).collect());
        }
        for c in 0..=self.cols {
            out.push((0..=self.rows).map(|r| (r, c)).collect());
        }
        out
    }

    /// Number of hidden entries.
    pub fn hidden(&self) -> usize {
        self.flags.iter().flatten().filter(|f| f.hidden()).count()
    }
}

/// Suppresses `cells` (`rows × cols` non-negative counts) with threshold `k` (counts 1..k−1 are
/// hidden; `k ≤ 1` hides nothing). Cells must be rectangular.
pub fn suppress(cells: &[Vec<i64>], k: i64) -> SuppressedTable {
    let rows = cells.len();
    let cols = cells.first().map_or(0, Vec::len);
    let mut values = vec![vec![0i64; cols + 1]; rows + 1];
    for (r, row) in cells.iter().enumerate() {
        for (c, v) in row.iter().enumerate().take(cols) {
            values[r][c] = *v;
            values[r][cols] += v;
            values[rows][c] += v;
            values[rows][cols] += v;
        }
    }
    let flags = values
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| {
                    if (1..k).contains(v) {
                        Flag::Primary
                    } else {
                        Flag::Published
                    }
                })
                .collect()
        })
        .collect();
    let mut t = SuppressedTable {
        rows,
        cols,
        values,
        flags,
    };
    let lines = t.lines();
    loop {
        let mut changed = false;
        for line in &lines {
            let hidden = line.iter().filter(|(r, c)| t.flags[*r][*c].hidden()).count();
            if hidden != 1 {
                continue;
            }
            // Preference: a non-zero cell (smallest), a zero cell, then a margin; ties to the
            // first in the line.
            let pick = line
                .iter()
                .filter(|(r, c)| !t.flags[*r][*c].hidden())
                .min_by_key(|(r, c)| {
                    let margin = *r == rows || *c == cols;
                    let v = t.values[*r][*c];
                    (margin, v == 0, v)
                });
            if let Some((r, c)) = pick {
                t.flags[*r][*c] = Flag::Complementary;
                changed = true;
            }
        }
        if !changed {
            return t;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The two promises of the export, checked on any table.
    fn check(t: &SuppressedTable, k: i64) {
        for (r, row) in t.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !t.flags[r][c].hidden() {
                    assert!(!(1..k).contains(v), "published small value {v} at ({r}, {c})");
                }
            }
        }
        for line in t.lines() {
            let hidden = line.iter().filter(|(r, c)| t.flags[*r][*c].hidden()).count();
            assert_ne!(hidden, 1, "a line with one hidden entry: {line:?}");
        }
    }

    #[test]
    fn a_lone_small_cell_takes_three_partners_with_it() {
        let cells = vec![vec![10, 3, 12], vec![9, 8, 20], vec![11, 14, 7]];
        let t = suppress(&cells, 5);
        check(&t, 5);
        assert_eq!(t.flags[0][1], Flag::Primary);
        // The rectangle: the smallest partner in its row (10) and column (8), and their corner.
        assert_eq!(t.flags[0][0], Flag::Complementary);
        assert_eq!(t.flags[1][1], Flag::Complementary);
        assert_eq!(t.flags[1][0], Flag::Complementary);
        assert_eq!(t.hidden(), 4);
        assert_eq!(t.values[3][3], 94, "grand total");
    }

    #[test]
    fn nothing_small_means_nothing_hidden() {
        let t = suppress(&[vec![0, 5, 9], vec![0, 0, 6]], 5);
        assert_eq!(t.hidden(), 0);
        let t = suppress(&[vec![1, 2]], 1);
        assert_eq!(t.hidden(), 0, "k = 1 hides nothing");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn no_small_value_is_published_and_no_line_gives_a_hidden_one_away(
            (rows, cols) in (1usize..9, 1usize..9),
            k in 2i64..8,
            seed in prop::collection::vec(0i64..30, 64),
            zeros in prop::collection::vec(any::<bool>(), 64),
        ) {
            // Mostly-zero, mostly-small tables, like monthly violence counts.
            let cells: Vec<Vec<i64>> = (0..rows)
                .map(|r| (0..cols).map(|c| {
                    let i = (r * 8 + c) % 64;
                    if zeros[i] { 0 } else { seed[i] }
                }).collect())
                .collect();
            let t = suppress(&cells, k);
            check(&t, k);
            for (r, row) in cells.iter().enumerate() {
                prop_assert_eq!(&t.values[r][..cols], &row[..]);
            }
        }
    }
}
