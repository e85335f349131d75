//! `nexo resolve`: settle conflicted `.nexo/` paths of a merge or rebase.

use super::Ctx;
use nexo::core::error::Result;

pub fn run(ctx: &Ctx) -> Result<()> {
    let r = ctx.nexo()?.resolve()?;
    ctx.emit(&r, || {
        let mut s = String::new();
        for p in &r.resolved {
            s.push_str(&format!("resolved: {p}\n"));
        }
        s + &r.next + "\n"
    })
}
