//! Rust source as the IAM scanner sees it, parsed with syn: the functions of a file (with the
//! type each method belongs to) and what their bodies call, name and spell. Comments, string
//! contents and `#[cfg(test)]` modules are not code, so they never count as calls.

use std::collections::BTreeSet;
use std::path::Path;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::visit::{self, Visit};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    /// `self.name(`
    OnSelf(String),
    /// `x.name(` for any other receiver
    Method(String),
    /// `Qual::name(`: the segment before the name (`a::Store::get(` is `Store`, `get`)
    Path(String, String),
    /// `name(`
    Bare(String),
    /// `.name()` with no arguments: how SDK fluent operations start
    EmptyMethod(String),
}

/// What a body does, as far as the checks care.
#[derive(Debug, Clone, Default)]
pub struct Body {
    pub calls: Vec<Call>,
    /// Contents of string literals.
    pub strings: Vec<String>,
    /// `Qual::name` paths, called or not (`Self::TABLE`).
    pub paths: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct FnItem {
    /// The file, relative to its crate's `src/` (`store/locks.rs`).
    pub file: String,
    /// The type of the `impl` block a method is in.
    pub owner: Option<String>,
    pub name: String,
    /// Plain `pub` (not `pub(crate)`): what other crates can call.
    pub public: bool,
    /// Every identifier in the return type.
    pub returns: BTreeSet<String>,
    /// Every identifier in the parameters' types (not `self`): values the function is handed.
    pub params: BTreeSet<String>,
    pub body: Body,
}

pub fn parse(src: &str, file: &str) -> syn::File {
    syn::parse_file(src).unwrap_or_else(|e| panic!("{file}: syn cannot parse it: {e}"))
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

/// The `.rs` files under `src` (recursively), keyed by their path relative to it with `/`
/// separators, parsed; files of out-of-line `#[cfg(test)] mod x;` modules are left out.
pub fn read_src(src: &Path) -> Vec<(String, syn::File)> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let p = e.expect("dir entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if p.is_dir() {
                walk(&p, &key, out);
            } else if key.ends_with(".rs") {
                let text =
                    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.push((key, text));
            }
        }
    }
    let mut texts = Vec::new();
    walk(src, "", &mut texts);
    texts.sort();
    let files: Vec<(String, syn::File)> = texts
        .into_iter()
        .map(|(key, text)| {
            let file = parse(&text, &format!("{}/{key}", src.display()));
            (key, file)
        })
        .collect();
    // Where each out-of-line test module's file lives: `m.rs` or `m/…` beside (lib.rs, main.rs,
    // mod.rs) or below (any other file) the declaring file.
    let mut test_mods = Vec::new();
    for (key, file) in &files {
        let dir = match key.rsplit_once('/') {
            Some((d, "lib.rs" | "main.rs" | "mod.rs")) => format!("{d}/"),
            None if matches!(key.as_str(), "lib.rs" | "main.rs" | "mod.rs") => String::new(),
            _ => format!("{}/", key.trim_end_matches(".rs")),
        };
        for item in &file.items {
            if let syn::Item::Mod(m) = item {
                if m.content.is_none() && is_cfg_test(&m.attrs) {
                    test_mods.push(format!("{dir}{}", m.ident));
                }
            }
        }
    }
    files
        .into_iter()
        .filter(|(key, _)| {
            !test_mods
                .iter()
                .any(|m| *key == format!("{m}.rs") || key.starts_with(&format!("{m}/")))
        })
        .collect()
}

/// The functions and methods of a file with bodies (trait methods without a default are not
/// code), including ones nested in other bodies; test modules are skipped.
pub fn items(file: &syn::File, key: &str) -> Vec<FnItem> {
    struct Items<'k> {
        file: &'k str,
        owner: Vec<String>,
        out: Vec<FnItem>,
    }
    impl Items<'_> {
        fn push(
            &mut self,
            vis: Option<&syn::Visibility>,
            sig: &syn::Signature,
            block: &syn::Block,
        ) {
            let mut returns = Idents::default();
            if let syn::ReturnType::Type(_, ty) = &sig.output {
                returns.visit_type(ty);
            }
            let mut params = Idents::default();
            for input in &sig.inputs {
                if let syn::FnArg::Typed(p) = input {
                    params.visit_type(&p.ty);
                }
            }
            self.out.push(FnItem {
                file: self.file.to_owned(),
                owner: self.owner.last().cloned(),
                name: sig.ident.to_string(),
                public: matches!(vis, Some(syn::Visibility::Public(_))),
                returns: returns.0,
                params: params.0,
                body: body_of(|v| v.visit_block(block)),
            });
        }
    }
    impl<'ast> Visit<'ast> for Items<'_> {
        fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
            if !is_cfg_test(&m.attrs) {
                visit::visit_item_mod(self, m);
            }
        }
        fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
            self.owner.push(type_name(&i.self_ty));
            visit::visit_item_impl(self, i);
            self.owner.pop();
        }
        fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
            self.push(Some(&f.vis), &f.sig, &f.block);
            visit::visit_item_fn(self, f);
        }
        fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
            self.push(Some(&f.vis), &f.sig, &f.block);
            visit::visit_impl_item_fn(self, f);
        }
        fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
            if let Some(block) = &f.default {
                self.push(None, &f.sig, block);
            }
            visit::visit_trait_item_fn(self, f);
        }
    }
    let mut v = Items {
        file: key,
        owner: Vec::new(),
        out: Vec::new(),
    };
    v.visit_file(file);
    v.out
}

/// What a whole file (outside its test modules) calls, names and spells.
pub fn file_body(file: &syn::File) -> Body {
    body_of(|v| v.visit_file(file))
}

/// Each struct of a file (outside test modules) with every identifier in its fields' types:
/// a value handed a `Gate` can reach the `Store` the gate holds.
pub fn struct_fields(file: &syn::File) -> Vec<(String, BTreeSet<String>)> {
    #[derive(Default)]
    struct Structs(Vec<(String, BTreeSet<String>)>);
    impl<'ast> Visit<'ast> for Structs {
        fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
            if !is_cfg_test(&m.attrs) {
                visit::visit_item_mod(self, m);
            }
        }
        fn visit_item_struct(&mut self, st: &'ast syn::ItemStruct) {
            let mut idents = Idents::default();
            for f in &st.fields {
                idents.visit_type(&f.ty);
            }
            self.0.push((st.ident.to_string(), idents.0));
        }
    }
    let mut v = Structs::default();
    v.visit_file(file);
    v.0
}

/// `const NAME: &str = "value"` items and associated consts of a file.
pub fn str_consts(file: &syn::File) -> Vec<(String, String)> {
    #[derive(Default)]
    struct Consts(Vec<(String, String)>);
    impl Consts {
        fn push(&mut self, ident: &syn::Ident, expr: &syn::Expr) {
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = expr
            {
                self.0.push((ident.to_string(), s.value()));
            }
        }
    }
    impl<'ast> Visit<'ast> for Consts {
        fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
            self.push(&c.ident, &c.expr);
        }
        fn visit_impl_item_const(&mut self, c: &'ast syn::ImplItemConst) {
            self.push(&c.ident, &c.expr);
        }
    }
    let mut v = Consts::default();
    v.visit_file(file);
    v.0
}

fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        syn::Type::Reference(r) => type_name(&r.elem),
        syn::Type::Paren(p) => type_name(&p.elem),
        _ => String::new(),
    }
}

#[derive(Default)]
struct Idents(BTreeSet<String>);

impl<'ast> Visit<'ast> for Idents {
    fn visit_ident(&mut self, i: &'ast proc_macro2::Ident) {
        self.0.insert(i.to_string());
    }
}

fn body_of(visit: impl FnOnce(&mut BodyVisitor)) -> Body {
    let mut v = BodyVisitor(Body::default());
    visit(&mut v);
    v.0
}

struct BodyVisitor(Body);

fn is_self(e: &syn::Expr) -> bool {
    matches!(e, syn::Expr::Path(p) if p.qself.is_none() && p.path.is_ident("self"))
}

/// Names that look like calls but are not functions of ours.
fn not_a_function(name: &str) -> bool {
    matches!(
        name,
        "if" | "while" | "match" | "return" | "for" | "in" | "Some" | "Ok" | "Err" | "fn"
    )
}

impl BodyVisitor {
    fn method(&mut self, name: String, on_self: bool, no_args: bool) {
        if no_args {
            self.0.calls.push(Call::EmptyMethod(name.clone()));
        }
        self.0.calls.push(if on_self {
            Call::OnSelf(name)
        } else {
            Call::Method(name)
        });
    }

    fn path_call(&mut self, qual: Option<String>, name: String) {
        match qual {
            Some(q) => self.0.calls.push(Call::Path(q, name)),
            None if !not_a_function(&name) => self.0.calls.push(Call::Bare(name)),
            None => {}
        }
    }

    /// Macro arguments are tokens, not syntax (`json!`, `info!(x = %y)`, `join!`): calls in
    /// them are `. name (…)`, `Q :: name (…)` and `name (…)` token sequences.
    fn tokens(&mut self, ts: TokenStream) {
        let tt: Vec<TokenTree> = ts.into_iter().collect();
        let punct =
            |k: usize, c: char| matches!(tt.get(k), Some(TokenTree::Punct(p)) if p.as_char() == c);
        let ident = |k: usize| match tt.get(k) {
            Some(TokenTree::Ident(i)) => Some(i.to_string()),
            _ => None,
        };
        for (i, t) in tt.iter().enumerate() {
            match t {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Literal(l) => {
                    let lit = TokenStream::from(TokenTree::Literal(l.clone()));
                    if let Ok(s) = syn::parse2::<syn::LitStr>(lit) {
                        self.0.strings.push(s.value());
                    }
                }
                TokenTree::Ident(name) => {
                    let name = name.to_string();
                    let qual = (i >= 3 && punct(i - 1, ':') && punct(i - 2, ':'))
                        .then(|| ident(i - 3))
                        .flatten();
                    if let Some(q) = &qual {
                        self.0.paths.push((q.clone(), name.clone()));
                    }
                    let Some(TokenTree::Group(args)) = tt.get(i + 1) else {
                        continue;
                    };
                    if args.delimiter() != Delimiter::Parenthesis {
                        continue;
                    }
                    if i >= 1 && punct(i - 1, '.') {
                        let on_self = i >= 2 && ident(i - 2).as_deref() == Some("self");
                        self.method(name, on_self, args.stream().is_empty());
                    } else if i >= 2 && punct(i - 1, ':') && punct(i - 2, ':') {
                        if let Some(q) = qual {
                            self.path_call(Some(q), name);
                        }
                    } else {
                        self.path_call(None, name);
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for BodyVisitor {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            visit::visit_item_mod(self, m);
        }
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        self.method(
            m.method.to_string(),
            is_self(&m.receiver),
            m.args.is_empty(),
        );
        visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func {
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if let Some((name, quals)) = segs.split_last() {
                self.path_call(quals.last().cloned(), name.clone());
            }
        }
        visit::visit_expr_call(self, c);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let n = p.segments.len();
        if n >= 2 {
            self.0.paths.push((
                p.segments[n - 2].ident.to_string(),
                p.segments[n - 1].ident.to_string(),
            ));
        }
        visit::visit_path(self, p);
    }

    fn visit_lit_str(&mut self, s: &'ast syn::LitStr) {
        self.0.strings.push(s.value());
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        visit::visit_macro(self, m);
    }
}
