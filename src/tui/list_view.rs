//! A windowed list's selection and scroll offset, over a filtered index or a virtual row
//! count; shared by every list pane and the Events view.

/// A windowed list: the filtered index into the data, the selection and the scroll offset.
/// Only `index[offset..offset + rows]` is ever turned into widgets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListView {
    pub index: Vec<usize>,
    pub selected: usize,
    pub offset: usize,
    /// A virtual list of this many rows (a server-paged one): row `n` is item `n`, and
    /// `index` is empty.
    pub virtual_rows: Option<usize>,
}

impl ListView {
    /// The data position of the selected row.
    pub fn selected_item(&self) -> Option<usize> {
        match self.virtual_rows {
            Some(rows) => (self.selected < rows).then_some(self.selected),
            None => self.index.get(self.selected).copied(),
        }
    }

    pub fn len(&self) -> usize {
        self.virtual_rows.unwrap_or(self.index.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes it a virtual list of `len` rows, keeping the selection's position (clamped).
    pub fn set_virtual(&mut self, len: usize, rows: usize) {
        self.index = Vec::new();
        self.virtual_rows = Some(len);
        self.select(self.selected, rows);
    }

    /// Moves the selection to `position` (clamped) and scrolls it into a window of `rows`.
    pub fn select(&mut self, position: usize, rows: usize) {
        self.selected = position.min(self.len().saturating_sub(1));
        self.scroll_into_view(rows);
    }

    pub fn move_by(&mut self, delta: isize, rows: usize) {
        self.select(self.selected.saturating_add_signed(delta), rows);
    }

    pub fn scroll_into_view(&mut self, rows: usize) {
        let rows = rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(self.len().saturating_sub(rows));
    }

    /// Replaces the index, keeping `keep` (a data position) selected when it is still listed.
    pub fn replace(&mut self, index: Vec<usize>, keep: Option<usize>, rows: usize) {
        let position = keep.and_then(|item| index.iter().position(|&candidate| candidate == item));
        self.index = index;
        self.virtual_rows = None;
        match position {
            Some(position) => self.select(position, rows),
            None => {
                self.offset = 0;
                self.select(0, rows);
            }
        }
    }

    /// The rows to draw for a window of `rows` lines, and the selection within them.
    pub fn window(&self, rows: usize) -> (Vec<usize>, Option<usize>) {
        let start = self.offset.min(self.len());
        let end = (start + rows).min(self.len());
        let selected = (self.selected >= start && self.selected < end).then(|| self.selected - start);
        let items = match self.virtual_rows {
            Some(_) => (start..end).collect(),
            None => self.index[start..end].to_vec(),
        };
        (items, selected)
    }
}
