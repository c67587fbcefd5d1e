//! Renders a terminal screen read by vt100 as an SVG picture: monospace text on a dark
//! background, each run of cells with the same colours and emphasis as one `<text>` (and one
//! `<rect>` when its background is not the default). Shared by the screenshot example and the
//! docs test, so the renderer is checked by `cargo test`.

use std::fmt::Write as _;

/// Cell size in SVG units; `textLength` stretches every run to its cells, so columns line up
/// whatever monospace font the viewer has. A cell is as tall as a box-drawing glyph (about
/// 1.16 em in common monospace fonts), so pane borders join without gaps.
const FONT_SIZE: f32 = 15.0;
const CELL_WIDTH: f32 = 9.0;
const CELL_HEIGHT: f32 = 17.5;
/// Distance from a cell's top to the text baseline (the font's ascent, about 0.93 em).
const BASELINE: f32 = 14.0;
/// Room around the terminal for the window frame.
const PADDING: f32 = 16.0;
const TITLE_BAR: f32 = 28.0;

const BACKGROUND: &str = "#1e1e2e";
const FOREGROUND: &str = "#cdd6f4";
/// The window frame and its title.
const FRAME: &str = "#45475a";
const MUTED: &str = "#7f849c";
/// The 16 ANSI colours (Catppuccin Mocha), indexed like the terminal's palette.
const PALETTE: [&str; 16] = [
    "#45475a", "#f38ba8", "#a6e3a1", "#f9e2af", "#89b4fa", "#f5c2e7", "#94e2d5", "#bac2de", "#7f849c", "#f38ba8",
    "#a6e3a1", "#f9e2af", "#89b4fa", "#f5c2e7", "#94e2d5", "#a6adc8",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Style {
    /// `None` is the terminal's default colour.
    fg: Option<String>,
    bg: Option<String>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

#[derive(Debug, Clone)]
struct Cell {
    /// Empty for the second half of a wide character.
    text: String,
    style: Style,
}

/// A copy of a terminal screen that can be edited (to mask what changes from run to run) and
/// rendered.
pub struct Grid {
    rows: Vec<Vec<Cell>>,
    cols: u16,
}

fn color(color: vt100::Color) -> Option<String> {
    match color {
        vt100::Color::Default => None,
        vt100::Color::Idx(index) if index < 16 => Some(PALETTE[usize::from(index)].to_owned()),
        vt100::Color::Idx(index) => Some(xterm_256(index)),
        vt100::Color::Rgb(red, green, blue) => Some(format!("#{red:02x}{green:02x}{blue:02x}")),
    }
}

/// The xterm 256-colour cube and grey ramp, for indexes 16 to 255.
fn xterm_256(index: u8) -> String {
    if index >= 232 {
        let level = 8 + (index - 232) * 10;
        return format!("#{level:02x}{level:02x}{level:02x}");
    }
    let cube = index - 16;
    let level = |value: u8| if value == 0 { 0 } else { 55 + value * 40 };
    format!("#{:02x}{:02x}{:02x}", level(cube / 36), level(cube / 6 % 6), level(cube % 6))
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

impl Grid {
    pub fn from_screen(screen: &vt100::Screen) -> Self {
        let (rows, cols) = screen.size();
        let rows = (0..rows)
            .map(|row| {
                (0..cols)
                    .map(|col| {
                        let cell = screen.cell(row, col).expect("a cell inside the screen");
                        let (mut fg, mut bg) = (color(cell.fgcolor()), color(cell.bgcolor()));
                        if cell.inverse() {
                            // Reversed video: the default colours swap too.
                            let swapped_fg = bg.take().unwrap_or_else(|| BACKGROUND.to_owned());
                            bg = Some(fg.take().unwrap_or_else(|| FOREGROUND.to_owned()));
                            fg = Some(swapped_fg);
                        }
                        let text = if cell.is_wide_continuation() {
                            String::new()
                        } else if cell.has_contents() {
                            cell.contents().to_owned()
                        } else {
                            " ".to_owned()
                        };
                        let style = Style {
                            fg,
                            bg,
                            bold: cell.bold(),
                            dim: cell.dim(),
                            italic: cell.italic(),
                            underline: cell.underline(),
                        };
                        Cell { text, style }
                    })
                    .collect()
            })
            .collect();
        Self { rows, cols }
    }

    /// The text of one row, one `char` per cell (a wide character's second cell is a space),
    /// so that character offsets are cell offsets.
    pub fn row_text(&self, row: usize) -> String {
        self.rows[row].iter().map(|cell| cell.text.chars().next().unwrap_or(' ')).collect()
    }

    /// Overwrites the text of cells `col..col + text.chars().count()` of `row`, keeping their
    /// styles: used to mask values that change from run to run (ports, clock times).
    pub fn overwrite(&mut self, row: usize, col: usize, text: &str) {
        for (cell, character) in self.rows[row][col..].iter_mut().zip(text.chars()) {
            cell.text = character.to_string();
        }
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// The picture, framed like a terminal window titled `title`.
    pub fn to_svg(&self, title: &str) -> String {
        let width = f32::from(self.cols) * CELL_WIDTH + 2.0 * PADDING;
        let height = self.rows.len() as f32 * CELL_HEIGHT + 2.0 * PADDING + TITLE_BAR;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xml:space="preserve" font-family="ui-monospace, 'SFMono-Regular', Menlo, Consolas, 'DejaVu Sans Mono', monospace" font-size="{FONT_SIZE}">"#
        );
        let _ =
            writeln!(svg, r#"<rect width="{width}" height="{height}" rx="10" fill="{BACKGROUND}" stroke="{FRAME}"/>"#);
        for (index, dot) in ["#f38ba8", "#f9e2af", "#a6e3a1"].iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<circle cx="{}" cy="{}" r="6" fill="{dot}"/>"#,
                PADDING + 6.0 + index as f32 * 20.0,
                TITLE_BAR / 2.0 + 4.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{MUTED}" text-anchor="middle">{}</text>"#,
            width / 2.0,
            TITLE_BAR / 2.0 + 8.0,
            escape(title)
        );
        let top = PADDING + TITLE_BAR;
        for (row, cells) in self.rows.iter().enumerate() {
            let y = top + row as f32 * CELL_HEIGHT;
            let mut start = 0;
            while start < cells.len() {
                let style = &cells[start].style;
                let end = start + cells[start..].iter().take_while(|cell| &cell.style == style).count();
                let x = PADDING + start as f32 * CELL_WIDTH;
                let run_width = (end - start) as f32 * CELL_WIDTH;
                if let Some(bg) = &style.bg {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x}" y="{y}" width="{run_width}" height="{CELL_HEIGHT}" fill="{bg}"/>"#
                    );
                }
                let text: String = cells[start..end].iter().map(|cell| cell.text.as_str()).collect();
                if !text.trim().is_empty() {
                    write_text(&mut svg, x, y, run_width, style, &text);
                }
                start = end;
            }
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn write_text(svg: &mut String, x: f32, y: f32, run_width: f32, style: &Style, text: &str) {
    let baseline = y + BASELINE;
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{baseline}" textLength="{run_width}" lengthAdjust="spacingAndGlyphs" fill="{}""#,
        style.fg.as_deref().unwrap_or(FOREGROUND)
    );
    if style.bold {
        svg.push_str(r#" font-weight="bold""#);
    }
    if style.italic {
        svg.push_str(r#" font-style="italic""#);
    }
    if style.underline {
        svg.push_str(r#" text-decoration="underline""#);
    }
    if style.dim {
        svg.push_str(r#" opacity="0.6""#);
    }
    let _ = writeln!(svg, ">{}</text>", escape(text));
}
