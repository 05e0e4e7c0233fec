"""Reconcile commands: validate, snowflake-yml, plan, show, apply, drift, destroy, unlock (deploy.reconcile)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from deploy import reconcile
from deploy.cli import output
from deploy.cli.context import (
    EXIT_CHANGES,
    EXIT_OK,
    ConnectionOption,
    Options,
    confirm,
    options,
    read_by_names,
    session,
)
from deploy.cli.output import PlanFormat, SavedPlanFormat
from deploy.plan import Plan
from deploy.spec import DeclaredNames, Desired

app = typer.Typer()


def _targeted(the_plan: Plan, opts: Options, connection: str | None, desired: Desired | DeclaredNames) -> Plan:
    """The plan with this run's scope, so its text and Markdown name an --env target as `plan` does."""
    from deploy import saved_plan

    # current_scope reads the databases, schemas and environment: the names hold them as Desired does.
    return replace(the_plan, scope=saved_plan.current_scope(connection or opts.connection, desired))  # type: ignore[arg-type]


@app.command()
def validate(ctx: typer.Context) -> None:
    """Check the manifests against the JSON Schema and the local artifacts; no account needed."""
    desired = options(ctx).workspace.desired()
    files = sum(len(s.files) for s in desired.stages.values())
    output.out.print(
        f"Manifests valid: {len(desired.stages)} stage(s) holding {files} file(s), "
        f"{len(desired.functions)} function(s), from {len(desired.manifest_files)} file(s)."
        + (
            f" Environment {desired.environment.name}: {', '.join(f'{d}.{s}' for d, s in desired.schemas)}."
            if desired.environment
            else ""
        )
    )
    _warn_stale_snowflake_yml(options(ctx), desired)


def _warn_stale_snowflake_yml(opts: Options, desired: Desired) -> None:
    """A warning, not an error: snowflake.local.yml follows the artifacts' versions (every training run),
    and T5_DATABASE / T5_SCHEMA point the manifests at another environment than the committed files."""
    from deploy import snowflake_yml

    root = snowflake_yml.project_root_of(opts.manifests)
    if (root / snowflake_yml.PROJECT_FILE).is_file():
        for problem in snowflake_yml.stale(snowflake_yml.generate(desired, root), root):
            output.warning(f"{problem}; run `{snowflake_yml.REGENERATE}` before `snow snowpark deploy`")


@app.command("snowflake-yml")
def snowflake_yml_command(
    ctx: typer.Context,
    write: Annotated[bool, typer.Option("--write", help="Write them beside manifests/ instead of printing.")] = False,
) -> None:
    """snowflake.yml and requirements.txt for the Snowflake CLI (`snow snowpark build/deploy`), from the manifests."""
    from deploy import snowflake_yml

    opts = options(ctx)
    root = snowflake_yml.project_root_of(opts.manifests)
    generated = snowflake_yml.generate(opts.workspace.desired(), root)
    if not write:
        for name, text in generated.files.items():
            output.out.print(f"# ---- {name}\n{text}", markup=False, end="")
        return
    written = snowflake_yml.write(generated, root)
    output.out.print(", ".join(str(p) for p in written) + " written." if written else "Up to date.", markup=False)


@app.command()
def plan(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the plan here (JSON with --format json is what `apply --plan` reads)."),
    ] = None,
) -> None:
    """Diff the live account against the manifests. Exit 0: no changes, 2: changes pending."""
    from deploy import saved_plan

    opts = options(ctx)
    desired = opts.workspace.desired()
    with session(opts, connection) as opened:
        the_plan, _ = reconcile.plan(opened, desired)
    # Portable sources, the scope and the manifests' digest: what `apply --plan` checks (docs/plan-format.md).
    scope = saved_plan.current_scope(connection or opts.connection, desired)
    the_plan = saved_plan.stamp(the_plan, desired, scope, saved_plan.SourceRoots.of(desired, opts.cache_dir))
    output.emit(output.render_plan(the_plan, fmt, marker_dir=opts.workspace.marker_dir), fmt.value, out_file)
    raise typer.Exit(EXIT_OK if the_plan.is_empty else EXIT_CHANGES)


@app.command()
def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan saved with `deploy plan --format json --out FILE`.")],
    fmt: Annotated[SavedPlanFormat, typer.Option("--format", "-f", help="Output format.")] = SavedPlanFormat.text,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write it here instead of printing.")] = None,
) -> None:
    """Render a saved plan (text, or Markdown for a pull-request comment); reads neither account nor artifacts."""
    # As `terraform show PLANFILE` (developer.hashicorp.com/terraform/cli/commands/show): plan once, render
    # the saved plan as often as needed, so the JSON and the Markdown of a pull request are one plan.
    from deploy import saved_plan

    # The same checks as `apply --plan` step 1: a saved plan, of a format this version reads.
    the_plan = saved_plan.load(plan_file)
    output.emit(output.render_plan(the_plan, fmt), fmt.value, out_file)


@app.command()
def apply(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Apply a plan saved with `plan --format json --out`, if still current."),
    ] = None,
    allow_destroy: Annotated[
        bool, typer.Option("--allow-destroy", help="Permit dropping managed functions/stages that left the manifests.")
    ] = False,
) -> None:
    """Make the account match the manifests: create, upload, replace, prune."""
    opts = options(ctx)
    if plan_file is not None:
        _apply_saved(opts, plan_file, connection, yes=yes, allow_destroy=allow_destroy)
        return
    desired = opts.workspace.desired()
    with session(opts, connection) as opened:
        the_plan, _ = reconcile.plan(opened, desired)
        output.show_plan(_targeted(the_plan, opts, connection, desired))
        if the_plan.is_empty:
            output.nothing_to_apply(opened.log.count, opened.log.seconds)
            return
        confirm(yes, "apply these changes")

        def replanned(current: Plan) -> None:  # another apply ran while this one waited for the lock
            output.out.print("The account changed since this plan was shown; the plan under the lock is:")
            output.show_plan(_targeted(current, opts, connection, desired))
            if not current.is_empty:
                confirm(yes, "apply these changes")

        with output.progress(the_plan) as progress:
            result = reconcile.apply_locked(
                opened, opts.workspace, desired, the_plan,
                allow_destroy=allow_destroy, on_step=progress, on_replan=replanned,
            )  # fmt: skip
    if result is None:
        output.out.print("Apply complete: nothing left to do (another apply made these changes).")
        return
    output.apply_report(result, "Apply")


def _apply_saved(opts: Options, plan_file: Path, connection: str | None, *, yes: bool, allow_destroy: bool) -> None:
    """`apply --plan`: read the file, refuse it for another target or other manifests, then apply it
    while the account is as it was (deploy.saved_plan names each cause)."""
    from deploy import saved_plan

    saved = saved_plan.load(plan_file)  # before anything else: a Markdown file needs no artifacts nor account
    desired = opts.workspace.desired()
    scope = saved_plan.current_scope(connection or opts.connection, desired)
    checked = saved_plan.check(saved, desired, scope, saved_plan.SourceRoots.of(desired, opts.cache_dir))
    output.show_plan(checked)  # it holds its scope: an --env target is named
    if checked.is_empty:
        return
    confirm(yes, "apply this saved plan")
    with session(opts, connection) as opened, output.progress(checked) as progress:
        result = reconcile.apply_saved_locked(
            opened, checked, desired, opts.workspace, allow_destroy=allow_destroy, on_step=progress
        )  # the account check runs under the lock (deploy.lock)
    output.apply_report(result, "Apply")


@app.command()
def drift(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f")] = PlanFormat.text,
) -> None:
    """Report what changed in the account since the last apply (not manifest edits). Exit 0: clean, 2: drift."""
    from deploy import drift as drift_report
    from deploy.manifest import ArtifactsMissing

    opts = options(ctx)
    desired: Desired | DeclaredNames
    try:
        desired = opts.workspace.desired()
    except ArtifactsMissing:
        if fmt is PlanFormat.sql:
            raise  # the repair's SQL renders the manifests' properties: those need the artifacts
        from deploy import drift_names

        # A runner without artifacts/: what the account records of the last apply (tags, markers) is enough.
        desired = opts.names()
        report = read_by_names(ctx, connection, drift_names.report)
    else:
        with session(opts, connection) as opened:
            the_plan, _ = reconcile.plan(opened, desired)
        report = drift_report.report(the_plan)
    if fmt in (PlanFormat.text, PlanFormat.markdown):
        # Warnings (e.g. a stage whose encryption differs and cannot be altered) show here too.
        shown = _targeted(report.drift, opts, connection, desired)
        text = output.render_plan(shown, fmt, title=drift_report.TITLE, empty=drift_report.CLEAN)
        text += f"\n{report.note}\n" if report.note else ""
    else:  # JSON and SQL: the report as documented (docs/plan-format.md: `scope` null, so `apply --plan` refuses it)
        text = output.render_plan(report.drift, fmt, marker_dir=opts.workspace.marker_dir)
    output.emit(text, fmt.value)
    raise typer.Exit(EXIT_OK if report.is_clean else EXIT_CHANGES)


@app.command()
def destroy(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y")] = False,
) -> None:
    """Remove what t5-deploy manages (its functions, stages and versions); foreign objects stay."""
    from deploy.observe import observe

    opts = options(ctx)
    desired = opts.workspace.desired()
    with session(opts, connection) as opened, reconcile.locked(opened, desired, "destroy"):
        the_plan = reconcile.destroy_plan(desired, observe(opened, desired))
        output.show_plan(_targeted(the_plan, opts, connection, desired))
        if the_plan.is_empty:
            return
        confirm(yes, "destroy these objects")
        with output.progress(the_plan) as progress:
            result = reconcile.apply(opened, opts.workspace, the_plan, allow_destroy=True, on_step=progress)
    output.apply_report(result, "Destroy")


@app.command()
def unlock(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    force: Annotated[bool, typer.Option("--force", help="Break the lock (only when its apply is gone).")] = False,
) -> None:
    """Show, or with --force break, the apply lock of the manifests' schemas (deploy.lock)."""
    held = read_by_names(ctx, connection, reconcile.force_unlock if force else reconcile.lock_status)
    output.locks(held, broken=force)
