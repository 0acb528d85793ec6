"""The ``helloword`` command: setup for people and scripts, workers, the demo, the local run.

Output meant for scripts goes to stdout (``merchants create`` prints only the key); progress
and diagnostics go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, routes_command, shell_command

from . import create_app
from .runtime import Runtime, current_runtime


def _app() -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Helloword: returns middleware for cross-border sellers."""


main.add_command(shell_command)
main.add_command(routes_command)


# --- database ---------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION. A database without exchange rates gets the bundled
    reference rates, so amounts in other currencies can be compared from the first return."""
    from sqlalchemy import func, select

    from migrations import upgrade

    from .db import models
    from .services import fx

    runtime = current_runtime()
    upgrade(runtime.settings.database_url, revision)
    click.echo(f"database at {revision}", err=True)
    if revision == "head":
        with runtime.db.transaction() as session:
            if not session.scalar(select(func.count()).select_from(models.FxRate)):
                count = fx.store_reference_rates(session)
                click.echo(f"stored {count} reference exchange rates", err=True)


# --- merchants --------------------------------------------------------------------------


@main.group()
def merchants() -> None:
    """Merchants and their API keys."""


@merchants.command("create")
@click.argument("name")
@click.option("--currency", default="USD", show_default=True, help="Reporting currency.")
def merchants_create(name: str, currency: str) -> None:
    """Create merchant NAME and print its first API key (and nothing else) on stdout."""
    from .errors import ValidationError
    from .services import merchants as service

    runtime = current_runtime()
    try:
        with runtime.db.transaction() as session:
            merchant = service.create_merchant(session, name, currency)
            _, key = service.create_api_key(session, merchant, name="created by the CLI")
    except ValidationError as error:
        raise click.UsageError(str(error)) from None
    click.echo(key)


@merchants.command("key")
@click.argument("name")
@click.option("--key-name", default="", help="A label to recognise the key by.")
def merchants_key(name: str, key_name: str) -> None:
    """Print a new API key for the existing merchant NAME."""
    from .errors import NotFound
    from .services import merchants as service

    runtime = current_runtime()
    try:
        with runtime.db.transaction() as session:
            merchant = service.merchant_by_name(session, name)
            _, key = service.create_api_key(session, merchant, name=key_name)
    except NotFound as error:
        raise click.UsageError(str(error)) from None
    click.echo(key)


# --- stores -----------------------------------------------------------------------------


@main.group()
def stores() -> None:
    """Stores on the platforms, linked to merchants (credentials are sealed at rest)."""


@stores.group("add")
def stores_add() -> None:
    """Link a store on a platform to a merchant."""


@stores_add.command("shopify")
@click.option("--merchant", "merchant_name", required=True, help="The merchant the store is for.")
@click.option("--shop", required=True, help="The shop's <name>.myshopify.com domain.")
@click.option("--token", required=True, help="The custom app's Admin API access token.")
@click.option(
    "--webhook-secret", required=True, help="The secret the custom app signs its webhooks with."
)
@click.option("--api-version", default="", help="Admin API version [default: SHOPIFY_API_VERSION]")
@click.option(
    "--days",
    default=90,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many days of past orders to import.",
)
def stores_add_shopify(
    merchant_name: str,
    shop: str,
    token: str,
    webhook_secret: str,
    api_version: str,
    days: int,
) -> None:
    """Link a store that runs a custom app made in its own admin, as an install would: the
    webhooks are subscribed at once (nothing is stored if Shopify refuses), the store is linked
    and the import of its recent orders is queued. Prints the store's id."""
    from platforms.shopify.oauth import InvalidShop, sanitize_shop

    from .errors import HellowordError, NotFound, ValidationError
    from .jobs import enqueue_all
    from .ports import Credentials
    from .services import installs

    platform = "shopify"
    runtime = current_runtime()
    try:
        shop = sanitize_shop(shop)
    except InvalidShop as error:
        raise click.BadParameter(str(error), param_hint="--shop") from None
    token, webhook_secret = token.strip(), webhook_secret.strip()
    if not token:
        raise click.BadParameter("the Admin API access token is empty", param_hint="--token")
    if not webhook_secret:
        raise click.BadParameter("the webhook secret is empty", param_hint="--webhook-secret")
    public_url = runtime.settings.public_url
    if not public_url.startswith("https://"):
        raise click.UsageError(
            f"HELLOWORD_PUBLIC_URL is {public_url}: Shopify delivers webhooks only over HTTPS, "
            "so set it to the https address where Shopify reaches this installation"
        )
    with runtime.db.session() as session:
        try:
            installs.check_link(session, platform, shop, merchant_name)
        except (NotFound, ValidationError) as error:
            raise click.UsageError(str(error)) from None
    secrets = {"access_token": token, "webhook_secret": webhook_secret}
    settings = {"api_version": api_version.strip() or runtime.settings.shopify.api_version}
    adapter = runtime.registry.platform(
        platform, Credentials(shop, secrets, settings), runtime.adapter_context()
    )
    try:
        subscriptions = adapter.register_webhooks(f"{public_url}/webhooks/{platform}")
    except HellowordError as error:
        raise click.ClickException(
            f"{shop} was not linked: subscribing its webhooks failed: {error}"
        ) from None
    try:
        with runtime.db.transaction() as session:
            installed = installs.install_store(
                session,
                runtime.vault,
                platform,
                shop,
                secrets,
                settings=settings,
                merchant_name=merchant_name,
                register_webhooks=False,
                backfill_days=days,
            )
            installs.webhooks_registered(session, installed.store_id, subscriptions)
    except (NotFound, ValidationError) as error:
        raise click.UsageError(str(error)) from None
    enqueue_all(runtime, installed.follow_ups)
    click.echo(
        f"{shop}: store {installed.store_id} of {installed.merchant_name}, "
        f"{len(subscriptions)} webhook topics subscribed, "
        f"the orders of the last {days} days queued for import",
        err=True,
    )
    click.echo(installed.store_id)


@stores_add.command("amazon")
@click.option("--merchant", "merchant_name", required=True, help="The merchant the account is for.")
@click.option(
    "--selling-partner-id", "seller_id", required=True, help="The seller's merchant token."
)
@click.option("--region", required=True, type=click.Choice(["na", "eu", "fe"]))
@click.option(
    "--marketplace",
    "countries",
    required=True,
    multiple=True,
    help="A marketplace's country code (US, DE, JP…); repeat for each.",
)
@click.option(
    "--refresh-token", required=True, help="The refresh token Seller Central gave the app."
)
@click.option(
    "--days",
    default=90,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many days of past orders to import.",
)
def stores_add_amazon(
    merchant_name: str,
    seller_id: str,
    region: str,
    countries: tuple[str, ...],
    refresh_token: str,
    days: int,
) -> None:
    """Link an Amazon seller account authorised to a private app in Seller Central, as the
    website authorisation would: the refresh token is sealed, and the import of its recent
    orders and of its returns is queued. Prints the store's id."""
    from .errors import NotFound, ValidationError
    from .jobs import enqueue_all
    from .services import installs
    from .web.amazon import first_import

    seller_id, refresh_token = seller_id.strip(), refresh_token.strip()
    if not seller_id:
        raise click.BadParameter(
            "the selling partner id is empty", param_hint="--selling-partner-id"
        )
    if not refresh_token.startswith("Atzr|"):
        raise click.BadParameter(
            "an LWA refresh token starts with Atzr|", param_hint="--refresh-token"
        )
    marketplace_ids = [_amazon_marketplace(region, country) for country in countries]
    runtime = current_runtime()
    try:
        with runtime.db.transaction() as session:
            installs.check_link(session, "amazon", seller_id, merchant_name)
            installed = installs.install_store(
                session,
                runtime.vault,
                "amazon",
                seller_id,
                {"refresh_token": refresh_token},
                settings={
                    "region": region,
                    "marketplace_ids": list(dict.fromkeys(marketplace_ids)),
                },
                merchant_name=merchant_name,
                register_webhooks=False,
                backfill_days=days,
            )
    except (NotFound, ValidationError) as error:
        raise click.UsageError(str(error)) from None
    enqueue_all(runtime, [*installed.follow_ups, first_import(installed.store_id)])
    click.echo(
        f"Amazon seller {seller_id}: store {installed.store_id} of {installed.merchant_name}, "
        f"the orders of the last {days} days and the returns queued for import",
        err=True,
    )
    click.echo(installed.store_id)


def _amazon_marketplace(region: str, country: str) -> str:
    """The marketplace id of a country's Amazon marketplace in the region."""
    from platforms.amazon.marketplaces import MARKETPLACES

    code = country.strip().upper()
    for market in MARKETPLACES.values():
        if market.country == code and market.region == region:
            return market.marketplace_id
    known = sorted(m.country for m in MARKETPLACES.values() if m.region == region)
    raise click.BadParameter(
        f"{country!r} is not a marketplace of region {region} ({', '.join(known)})",
        param_hint="--marketplace",
    )


# --- amazon -----------------------------------------------------------------------------


@main.group()
def amazon() -> None:
    """Amazon seller accounts: their returns reports, imported."""


@amazon.command("import")
@click.option(
    "--account", "seller_id", required=True, help="The linked account's selling partner id."
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Ask Amazon for the returns reported since DATE (YYYY-MM-DD).",
)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="A returns report downloaded from Seller Central (read offline).",
)
@click.option(
    "--marketplace",
    "country",
    default="",
    help="The file's marketplace (country code) [default: the account's first].",
)
def amazon_import(seller_id: str, since: Any, path: str | None, country: str) -> None:
    """Import an Amazon account's returns, from Amazon (--since) or from a report file
    (--file). Rows that cannot be read are named with their line numbers on stderr and
    skipped; the order details follow by jobs."""
    from contextlib import ExitStack
    from datetime import UTC

    from sqlalchemy import select

    from platforms.amazon import NeedsRelinking, ReportFormatError, file_lines, parse_returns_report

    from .db import models
    from .errors import HellowordError
    from .jobs import enqueue_all, store_platform
    from .services import amazon_import as service

    if (since is None) == (path is None):
        raise click.UsageError("give either --since DATE or --file REPORT")
    runtime = current_runtime()
    with runtime.db.session() as session:
        store = session.scalar(
            select(models.Store).where(
                models.Store.platform == "amazon", models.Store.external_id == seller_id.strip()
            )
        )
        if store is None:
            raise click.UsageError(f"no Amazon account {seller_id!r} is linked")
        store_id, settings = store.id, dict(store.settings)
    where = path or "Amazon"

    def skipped(row: Any) -> None:
        click.echo(f"{where}: line {row.line_number}: {row.message}", err=True)

    with ExitStack() as stack:
        if path is not None:
            region = str(settings.get("region") or "")
            ids = list(settings.get("marketplace_ids") or [])
            if country:
                marketplace_id = _amazon_marketplace(region, country)
            elif ids:
                marketplace_id = str(ids[0])
            else:
                raise click.UsageError(f"say which marketplace {path} is from: --marketplace")
            lines = _count_lines(path)
            handle = stack.enter_context(open(path, "rb"))
            rows: Any = parse_returns_report(file_lines(handle), marketplace_id)
        else:
            lines = None
            adapter, _ = store_platform(runtime, store_id)
            rows = adapter.iter_return_rows(since.replace(tzinfo=UTC))
        bar: Any = stack.enter_context(
            click.progressbar(length=lines, label="Amazon returns", file=sys.stderr)
        )

        def stored(batch: service.Batch) -> None:
            enqueue_all(runtime, batch.follow_ups)
            bar.update(batch.summary.rows)

        try:
            summary = service.import_rows(
                runtime.db, store_id, rows, on_error=skipped, on_batch=stored
            )
        except ReportFormatError as error:
            raise click.ClickException(f"{where}: {error}") from None
        except NeedsRelinking as error:
            with runtime.db.transaction() as session:
                service.needs_relinking(session, store_id, str(error))
            raise click.ClickException(str(error)) from None
        except HellowordError as error:
            raise click.ClickException(f"the import stopped: {error}") from None
    click.echo(
        f"{summary.rows} rows: {summary.returns_new} new returns ({summary.returns_open} "
        f"to decide, {summary.returns_history} settled on Amazon), {summary.returns_seen} "
        f"already stored, {summary.lines_added} lines added, {summary.orders_new} new orders "
        f"(details queued), {summary.errors} rows skipped"
    )


def _count_lines(path: str) -> int | None:
    """The rows of a plain report file, for the progress bar (None for a gzipped one)."""
    with open(path, "rb") as handle:
        if handle.read(2) == b"\x1f\x8b":
            return None
        handle.seek(0)
        count = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(count - 1, 0)  # the header is not a row


# --- ledger -----------------------------------------------------------------------------


@main.group()
def ledger() -> None:
    """The tamper-evident ledger of every return."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Check every return's hash chain; exit 1 naming the first broken event."""
    from .ledger import verify_all

    runtime = current_runtime()
    checked = 0
    with runtime.db.snapshot() as session:  # returns and events read as of one moment
        for _, breach in verify_all(session):
            if breach is not None:
                click.echo(f"ledger broken: {breach}")
                sys.exit(1)
            checked += 1
    click.echo(f"ledger intact: {checked} returns verified")


# --- policy -----------------------------------------------------------------------------


@main.group()
def policy() -> None:
    """Return policies: check a document, or see what it would change."""


def _read_policy(path: str) -> dict[str, Any]:
    from .rules import PolicyError
    from .rules.policy import parse_policy_text

    try:
        with open(path, encoding="utf-8") as handle:
            return parse_policy_text(handle.read()).document
    except PolicyError as error:
        for where, message in error.errors:
            click.echo(f"{path}: {where}: {message}", err=True)
        sys.exit(1)


@policy.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def policy_check(path: str) -> None:
    """Validate the policy document in PATH (YAML or JSON); exit 1 listing every error."""
    document = _read_policy(path)
    rules = document.get("rules", [])
    click.echo(f"{path}: valid, {len(rules)} rules")


@policy.command("simulate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--merchant", "merchant_name", required=True, help="Whose returns to replay.")
@click.option("--days", default=90, show_default=True, help="How far back to look.")
@click.option("--examples", default=5, show_default=True)
def policy_simulate(path: str, merchant_name: str, days: int, examples: int) -> None:
    """Replay the merchant's returns of the last DAYS days under PATH and under the active
    policy, and print (as JSON) how many decisions change, by rule, with examples."""
    from .errors import NotFound
    from .services import merchants as merchant_service
    from .services import policies

    document = _read_policy(path)
    runtime = current_runtime()
    with runtime.db.snapshot() as session:
        try:
            merchant = merchant_service.merchant_by_name(session, merchant_name)
        except NotFound as error:
            raise click.UsageError(str(error)) from None
        report = policies.simulate(session, merchant.id, document, days, examples=examples)
    click.echo(json.dumps(report, indent=2, default=str))


# --- back-office users ------------------------------------------------------------------


@main.group()
def users() -> None:
    """The people who sign in to a merchant's back office at /admin."""


@users.command("create")
@click.option("--merchant", "merchant_name", required=True)
@click.option("--email", required=True)
@click.option("--name", default="", help="How the back office greets them.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input, for scripts."
)
def users_create(merchant_name: str, email: str, name: str, password_stdin: bool) -> None:
    """Give a person a back-office account for the merchant (the password is asked for)."""
    from .errors import ValidationError
    from .services import users as service

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    runtime = current_runtime()
    try:
        with runtime.db.transaction() as session:
            merchant_id = _merchant_id(session, merchant_name)
            from .db import models

            merchant = session.get_one(models.Merchant, merchant_id)
            user = service.create_user(session, merchant, email, password, name)
            click.echo(f"{user.email} can sign in at {runtime.settings.public_url}/admin")
    except ValidationError as error:
        raise click.ClickException(str(error)) from None


# --- destinations, carriers and routing -------------------------------------------------


def _read_document(path: str) -> Any:
    """A YAML or JSON file (JSON is YAML), or exit 1 saying where it does not parse."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise click.ClickException(f"{path}: not YAML or JSON: {error}") from None


def _merchant_id(session: Any, name: str) -> int:
    from .errors import NotFound
    from .services.merchants import merchant_by_name

    try:
        return merchant_by_name(session, name).id
    except NotFound as error:
        raise click.UsageError(str(error)) from None


def _apply_each(path: str, merchant_name: str, apply: Any) -> list[Any]:
    """Apply ``apply(session, merchant_id, item)`` to each object in the file (one object or
    a list), in one transaction: an error names the item and field, and nothing is kept."""
    from .errors import NotFound, ValidationError

    document = _read_document(path)
    items = document if isinstance(document, list) else [document]
    if not items or not all(isinstance(item, dict) for item in items):
        raise click.ClickException(f"{path}: expected an object or a list of objects")
    runtime = current_runtime()
    results = []
    with runtime.db.transaction() as session:
        merchant_id = _merchant_id(session, merchant_name)
        for index, item in enumerate(items):
            try:
                results.append(apply(session, merchant_id, item))
            except (ValidationError, NotFound) as error:
                where = f"[{index}] " if isinstance(document, list) else ""
                raise click.ClickException(f"{path}: {where}{error}") from None
    return results


@main.group()
def destinations() -> None:
    """Where returns go: origin warehouses, overseas 3PLs and consolidation hubs."""


@destinations.command("list")
@click.option("--merchant", "merchant_name", required=True)
def destinations_list(merchant_name: str) -> None:
    """Print the merchant's destinations as JSON."""
    from sqlalchemy import select

    from .db import models
    from .domain.money import Money

    with current_runtime().db.session() as session:
        merchant_id = _merchant_id(session, merchant_name)
        rows = session.scalars(
            select(models.Destination)
            .where(models.Destination.merchant_id == merchant_id)
            .order_by(models.Destination.code)
        ).all()
        handling = {row.id: Money.from_minor(row.handling_minor, row.currency) for row in rows}
        click.echo(
            json.dumps(
                [
                    {
                        "code": row.code,
                        "name": row.name,
                        "kind": row.kind,
                        "address": row.address,
                        "countries": row.countries,
                        "handling": {
                            "amount": str(handling[row.id].amount),
                            "currency": row.currency,
                        },
                        "resale_factor": row.resale_factor,
                        "duty_rate": row.duty_rate,
                        "grades": row.grades,
                        "active": row.active,
                    }
                    for row in rows
                ],
                indent=2,
            )
        )


@destinations.command("set")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--merchant", "merchant_name", required=True)
def destinations_set(path: str, merchant_name: str) -> None:
    """Create or replace the destinations in PATH (YAML or JSON: one object or a list, each
    with code, kind, address, countries, handling, resale_factor, duty_rate, grades)."""
    from .services.destinations import upsert_destination

    rows = _apply_each(path, merchant_name, upsert_destination)
    click.echo(" ".join(row.code for row in rows))


@main.group()
def carriers() -> None:
    """The merchant's carrier accounts (credentials are sealed at rest)."""


@carriers.command("link")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--merchant", "merchant_name", required=True)
def carriers_link(path: str, merchant_name: str) -> None:
    """Create or replace the carrier accounts in PATH (YAML or JSON: one object or a list,
    each with carrier, name, settings, secrets, and optionally the destination code it
    reaches). Prints each account's webhook URL."""
    from sqlalchemy import select

    from .db import models
    from .errors import ValidationError
    from .services.destinations import link_carrier

    runtime = current_runtime()

    def link(session: Any, merchant_id: int, item: dict[str, Any]) -> Any:
        item = dict(item)
        code = item.pop("destination", None)
        if code is not None:
            row = session.scalar(
                select(models.Destination).where(
                    models.Destination.merchant_id == merchant_id, models.Destination.code == code
                )
            )
            if row is None:
                raise ValidationError("destination", f"no destination {code!r}")
            item["destination_id"] = row.id
        return link_carrier(
            session, runtime.vault, merchant_id, set(runtime.registry.carriers), item
        )

    for row in _apply_each(path, merchant_name, link):
        click.echo(f"{row.name}\t{runtime.settings.public_url}/webhooks/carriers/{row.id}")


@main.group()
def routing() -> None:
    """The numbers routing runs on: resale table, time limit, cost per day, returnless and
    own-shipment terms."""


@routing.command("show")
@click.option("--merchant", "merchant_name", required=True)
def routing_show(merchant_name: str) -> None:
    """Print the merchant's routing settings as JSON, defaults filled in."""
    from .services.destinations import routing_settings

    with current_runtime().db.session() as session:
        settings = routing_settings(session, _merchant_id(session, merchant_name))
    click.echo(json.dumps(settings.as_dict(), indent=2))


@routing.command("set")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--merchant", "merchant_name", required=True)
def routing_set(path: str, merchant_name: str) -> None:
    """Replace the routing settings with the document in PATH (YAML or JSON); fields left out
    take their defaults."""
    from .services.destinations import save_routing_settings

    [settings] = _apply_each(path, merchant_name, save_routing_settings)
    click.echo(json.dumps(settings.as_dict(), indent=2))


# --- workers ----------------------------------------------------------------------------


@main.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of forking.")
@click.option("--scheduler/--no-scheduler", default=True, help="Also run delayed retries.")
def worker(burst: bool, simple: bool, scheduler: bool) -> None:
    """Run an RQ worker on Helloword's queue, inside the app."""
    from rq import SimpleWorker, Worker

    from . import jobs

    runtime = current_runtime()
    jobs.warm_up(runtime)  # forked job processes inherit what the worker has loaded
    worker_class = SimpleWorker if simple else Worker
    rq_worker = worker_class([runtime.queue], connection=runtime.redis)
    rq_worker.work(burst=burst, with_scheduler=scheduler, logging_level="WARNING")


# --- sandbox, demo, local run -----------------------------------------------------------


@main.group()
def sandbox() -> None:
    """The simulated store that comes with every installation."""


@sandbox.command("load")
@click.option("--orders", default=40, show_default=True, help="Demo orders to create.")
def sandbox_load(orders: int) -> None:
    """Set up the sandbox merchant and store, and load demo orders into Helloword."""
    from .demo import bootstrap, import_orders

    runtime = current_runtime()
    setup = bootstrap(runtime, orders=orders)
    imported = import_orders(runtime, setup)
    click.echo(f"sandbox store {setup.shop}: {imported} orders in Helloword", err=True)


@main.command("demo")
@click.option("--returns", "count", default=50, show_default=True, help="Returns to drive.")
@click.option("--workers", default=1, show_default=True, help="RQ worker processes to start.")
@click.option(
    "--labels",
    "labels_dir",
    default="labels",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder the labels are written to.",
)
@click.option("--timeout", default=600, show_default=True, help="Seconds to wait for the pipeline.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def demo(count: int, workers: int, labels_dir: str, timeout: int, as_json: bool) -> None:
    """Drive COUNT sandbox returns through real RQ workers, from request to close."""
    from .demo import run_demo

    summary = run_demo(
        current_runtime(),
        count,
        workers=workers,
        labels_dir=labels_dir,
        timeout=timeout,
        progress=not as_json,
    )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        click.echo(summary.render())
    if summary.unfinished:
        sys.exit(1)


@main.command("run")
@click.option("--port", default=5000, show_default=True)
@click.option("--orders", default=40, show_default=True, help="Demo orders for the sandbox store.")
def run(port: int, orders: int) -> None:
    """Everything on one machine: migrations, embedded Redis, sandbox store, web, worker, cron."""
    from honcho.manager import Manager

    from migrations import upgrade

    from .demo import bootstrap, import_orders

    runtime: Runtime = current_runtime()
    upgrade(runtime.settings.database_url)
    redis_url = runtime.redis_url  # starts the embedded Redis when REDIS_URL is not set
    setup = bootstrap(runtime, orders=orders)
    import_orders(runtime, setup)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": runtime.settings.database_url,
        "HELLOWORD_INSTANCE": str(runtime.settings.instance_path),
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        # the Procfile's commands live beside this interpreter (the virtualenv's bin folder)
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    base = f"http://127.0.0.1:{port}"
    click.echo(
        "\n".join(
            [
                "",
                "Helloword is starting:",
                f"  Buyer portal  {base}/r/{setup.slug}",
                f"  Back office   {base}/admin  ({setup.admin_email} / {setup.admin_password})",
                f"  API docs      {base}/api/docs",
                f"  OpenAPI       {base}/api/openapi.json",
                f"  Health        {base}/healthz   {base}/readyz",
                f"  Webhooks      {base}/webhooks/<platform>",
                f"  Sandbox store {setup.shop} ({orders} demo orders)",
                f"  API key       {setup.api_key or NEW_KEY_HINT}",
                f"  Database      {runtime.settings.database_url}",
                f"  Redis         {redis_url}",
                "",
            ]
        ),
        err=True,
    )
    manager = Manager()
    for name, command in _procfile().items():
        if name != "release":
            manager.add_process(name, command, env=env)
    manager.loop()
    sys.exit(manager.returncode or 0)


NEW_KEY_HINT = "shown on the first run; another: helloword merchants key 'Sandbox Outfitters'"


def _procfile() -> dict[str, str]:
    from honcho.environ import parse_procfile

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(here, "Procfile")) as handle:
        procfile: Any = parse_procfile(handle.read())
    return dict(procfile.processes)


if __name__ == "__main__":
    main()
