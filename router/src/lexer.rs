//! A single-pass SQL tokenizer over raw query bytes.
//!
//! It knows exactly as much MySQL/MariaDB lexical syntax as routing needs: quoted strings (with backslash escapes
//! and doubled quotes), backtick identifiers, comments (`--`, `#`, `/* */`), executable comments (`/*! … */` and
//! `/*M! … */`, whose content is code), user (`@x`) and system (`@@x`) variables, numbers and punctuation. It never
//! allocates and never fails: unterminated strings or comments simply run to the end of the input.

/// The kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word: keyword or unquoted identifier.
    Word,
    /// A `` `backtick` `` identifier (span includes the backticks).
    QuotedIdent,
    /// A `'single'` or `"double"` quoted string (span includes the quotes).
    String,
    /// A numeric literal (decimal, hex `0x..`, or with exponent).
    Number,
    /// A user variable `@name`, `@'name'`, `` @`name` ``.
    UserVar,
    /// A system variable `@@name`, `@@session.name`, `@@global.name`.
    SysVar,
    /// A `?` placeholder.
    Placeholder,
    /// Any other single byte (operators, parentheses, `;`, `,`, `.`).
    Punct(u8),
}

/// One token: its kind and its byte span in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Start offset (inclusive).
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
}

impl Token {
    /// The token's bytes within `src`.
    pub fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        &src[self.start..self.end]
    }

    /// True when this is a bare word equal to `kw` (ASCII case-insensitive; `kw` must be upper case).
    pub fn is_word(&self, src: &[u8], kw: &str) -> bool {
        self.kind == TokenKind::Word && src[self.start..self.end].eq_ignore_ascii_case(kw.as_bytes())
    }

    /// True when this is the punctuation byte `p`.
    pub fn is_punct(&self, p: u8) -> bool {
        self.kind == TokenKind::Punct(p)
    }
}

/// Iterator of [`Token`]s over a query.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    in_exec_comment: bool,
}

impl<'a> Lexer<'a> {
    /// Starts lexing `src`.
    pub fn new(src: &'a [u8]) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            in_exec_comment: false,
        }
    }

    fn peek(&self, off: usize) -> u8 {
        self.src.get(self.pos + off).copied().unwrap_or(0)
    }

    /// Skips white space and comments; handles the markers of executable comments.
    fn skip_trivia(&mut self) {
        loop {
            let c = self.peek(0);
            if self.pos >= self.src.len() {
                return;
            }
            if c.is_ascii_whitespace() {
                self.pos += 1;
            } else if c == b'#'
                || (c == b'-' && self.peek(1) == b'-' && matches!(self.peek(2), b' ' | b'\t' | b'\n' | b'\r' | 0))
            {
                while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else if c == b'/' && self.peek(1) == b'*' {
                if self.peek(2) == b'!' || (self.peek(2) == b'M' && self.peek(3) == b'!') {
                    // Executable comment: its body is code. Skip the marker and optional version number.
                    self.pos += if self.peek(2) == b'!' { 3 } else { 4 };
                    while self.peek(0).is_ascii_digit() {
                        self.pos += 1;
                    }
                    self.in_exec_comment = true;
                } else {
                    self.pos += 2;
                    while self.pos < self.src.len() && !(self.peek(0) == b'*' && self.peek(1) == b'/') {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(self.src.len());
                }
            } else if self.in_exec_comment && c == b'*' && self.peek(1) == b'/' {
                self.in_exec_comment = false;
                self.pos += 2;
            } else {
                return;
            }
        }
    }

    fn skip_quoted(&mut self, q: u8) {
        // self.pos is at the opening quote.
        self.pos += 1;
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            if c == b'\\' && q != b'`' {
                self.pos += 2;
            } else if c == q {
                if self.peek(1) == q {
                    self.pos += 2;
                } else {
                    self.pos += 1;
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
        self.pos = self.src.len();
    }

    fn skip_word(&mut self) {
        while self.pos < self.src.len() && is_word_byte(self.src[self.pos]) {
            self.pos += 1;
        }
    }
}

/// Bytes that may appear in an unquoted identifier (non-ASCII bytes are identifier characters in MySQL).
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        self.skip_trivia();
        if self.pos >= self.src.len() {
            return None;
        }
        let start = self.pos;
        let c = self.src[start];
        let kind = match c {
            b'\'' | b'"' => {
                self.skip_quoted(c);
                TokenKind::String
            }
            b'`' => {
                self.skip_quoted(b'`');
                TokenKind::QuotedIdent
            }
            b'@' if self.peek(1) == b'@' => {
                self.pos += 2;
                // @@session.var / @@global.var / @@var
                loop {
                    self.skip_word();
                    if self.peek(0) == b'.' && is_word_byte(self.peek(1)) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                TokenKind::SysVar
            }
            b'@' => {
                self.pos += 1;
                match self.peek(0) {
                    q @ (b'\'' | b'"' | b'`') => self.skip_quoted(q),
                    _ => {
                        while self.pos < self.src.len()
                            && (is_word_byte(self.src[self.pos]) || self.src[self.pos] == b'.')
                        {
                            self.pos += 1;
                        }
                    }
                }
                TokenKind::UserVar
            }
            b'?' => {
                self.pos += 1;
                TokenKind::Placeholder
            }
            b'0'..=b'9' => {
                self.skip_word();
                if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
                    self.pos += 1;
                    self.skip_word();
                }
                // An identifier may start with digits (`1abc`); treat it as a word then.
                if self.src[start..self.pos]
                    .iter()
                    .all(|b| b.is_ascii_digit() || *b == b'.')
                    || self.src[start..self.pos].starts_with(b"0x")
                    || self.src[start..self.pos].iter().any(|b| *b == b'e' || *b == b'E')
                {
                    TokenKind::Number
                } else {
                    TokenKind::Word
                }
            }
            b'.' if self.peek(1).is_ascii_digit()
                && !matches!(start.checked_sub(1).map(|i| self.src[i]), Some(b) if is_word_byte(b) || b == b'`') =>
            {
                self.pos += 1;
                self.skip_word();
                TokenKind::Number
            }
            c if is_word_byte(c) => {
                self.skip_word();
                TokenKind::Word
            }
            _ => {
                self.pos += 1;
                TokenKind::Punct(c)
            }
        };
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(TokenKind, String)> {
        Lexer::new(s.as_bytes())
            .map(|t| (t.kind, String::from_utf8_lossy(t.text(s.as_bytes())).into_owned()))
            .collect()
    }

    #[test]
    fn strings_comments_and_variables() {
        let t = kinds("SELECT 'a''b\\'c', `x``y`, @v, @@session.sql_mode -- tail\n/* c */ # x\n, 1.5e3, ?");
        let k: Vec<TokenKind> = t.iter().map(|x| x.0).collect();
        use TokenKind::*;
        assert_eq!(
            k,
            vec![
                Word,
                String,
                Punct(b','),
                QuotedIdent,
                Punct(b','),
                UserVar,
                Punct(b','),
                SysVar,
                Punct(b','),
                Number,
                Punct(b','),
                Placeholder
            ]
        );
        assert_eq!(t[1].1, "'a''b\\'c'");
        assert_eq!(t[7].1, "@@session.sql_mode");
    }

    #[test]
    fn executable_comments_are_code() {
        let t = kinds("/*!40101 SET NAMES utf8 */; /*M!100100 SET @x=1*/");
        let words: Vec<&str> = t.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(words, vec!["SET", "NAMES", "utf8", ";", "SET", "@x", "=", "1"]);
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        for s in ["'abc", "`abc", "/* abc", "@'x", "@@", "@", "x.", ".5", "--", "/*!"] {
            let _ = kinds(s);
        }
    }
}
