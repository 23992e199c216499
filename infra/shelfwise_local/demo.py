"""A believable online shop, generated: the data `shelfwise demo` drops into the local cloud.

`generate_shop(out_dir)` writes five upstream files following the file contracts (see PRODUCT.md and
`shelfwise.ingest.contracts`):

- `catalog.csv` — ~3,000 items in 12 categories, a handful of brands per category, log-normal prices around
  each category's typical price;
- `interactions.csv.gz` — ~6 months of views -> carts -> purchases (about 10:3:1) plus ratings, from ~5,000
  users whose activity is long-tailed (log-normal) and who each prefer a few categories, so a recommender has
  signal to learn; item popularity within a category is long-tailed too. Traffic peaks at weekends, grows
  slightly over time and ends yesterday (UTC) relative to `today`;
- `sales.csv` — two years of daily units for 400 SKUs (the catalog's best sellers) at two warehouses, with
  weekly and yearly seasonality, per-SKU trend, promotions (flagged, discounted, with uplift), some
  intermittent slow movers, and the selling price;
- `inventory.csv` — the stock position and replenishment parameters of those SKUs at both warehouses; about
  one row in five leaves `service_level` blank, so the service level of the item's ABC/XYZ class applies;
- `promotions.csv` — the campaigns planned for the four weeks after the last sales day: a week each, 20% off,
  for a few of the best-selling SKUs, at both warehouses (blank location) except one at WH-NORTH only — like
  the campaigns in the sales history, so the forecast shows the uplift the history taught it.

Like any real shop's exports, the files carry a few data issues the forecast run reports in its summary
(`data_issues=False` leaves them out): a new item stocked at WH-NORTH but never sold, the last SKU sold at
WH-SOUTH without an inventory record, ten days missing from the second SKU's WH-NORTH sales (an export
outage), and one sales row of the third SKU sent twice. Every row still passes ingestion validation:
malformed input belongs in tests, not in a demo. Everything is vectorized numpy and deterministic for a seed
(same seed and `today` -> byte-identical files).
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

# (category, typical price, brands, nouns) — the nouns make titles read like a real catalog.
CATEGORIES: tuple[tuple[str, float, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "electronics",
        89.0,
        ("Voltra", "Nexa", "Auralis", "Pixelon", "Corevo", "Sonique"),
        ("Headphones", "Speaker", "Charger", "Smartwatch", "Power Bank", "Webcam", "Keyboard"),
    ),
    (
        "home_kitchen",
        34.0,
        ("Casavida", "Kuchenwerk", "Hearthly", "Brio Home", "Nordlys"),
        ("Pan", "Knife Set", "Kettle", "Cutting Board", "Storage Jar", "Blender", "Toaster"),
    ),
    (
        "books",
        14.0,
        ("Leafline Press", "Quarto House", "Inkwell", "Meridian Books", "Folio & Co"),
        ("Novel", "Cookbook", "Travel Guide", "Biography", "Thriller", "Poetry Collection"),
    ),
    (
        "toys",
        22.0,
        ("Playmoor", "Tinkerly", "Bricktown", "Wonderkin", "Jolly Oak"),
        ("Puzzle", "Building Set", "Plush Bear", "Board Game", "Toy Car", "Doll House"),
    ),
    (
        "beauty",
        18.0,
        ("Lumea", "Verdelle", "Rosalind", "Purea", "Maison Clair"),
        ("Face Cream", "Serum", "Shampoo", "Lip Balm", "Perfume", "Hand Soap"),
    ),
    (
        "sports",
        39.0,
        ("Stridex", "Peakform", "Altura", "Kinetic", "Trailhead", "Bolt"),
        ("Yoga Mat", "Running Shoes", "Water Bottle", "Dumbbell", "Tennis Racket", "Backpack"),
    ),
    (
        "fashion",
        32.0,
        ("Ardenne", "Kito", "Linum", "Velour & Vine", "Norse Wool", "Cobalt"),
        ("T-Shirt", "Jeans", "Scarf", "Sweater", "Sneakers", "Rain Jacket", "Belt"),
    ),
    (
        "garden",
        27.0,
        ("Greenhaven", "Terrawise", "Bloomfield", "Rootstock", "Sunpatch"),
        ("Planter", "Hose", "Pruning Shears", "Seed Kit", "Garden Gloves", "Bird Feeder"),
    ),
    (
        "grocery",
        6.5,
        ("Harvest Lane", "Bonterra", "Mill & Stone", "Golden Acre", "Fjordkost"),
        ("Coffee Beans", "Olive Oil", "Pasta", "Tea", "Granola", "Dark Chocolate", "Honey"),
    ),
    (
        "pet",
        16.0,
        ("Pawsome", "Furrytale", "Barkley", "Whiskerly", "Nibbles"),
        ("Dog Food", "Cat Litter", "Chew Toy", "Leash", "Pet Bed", "Scratching Post"),
    ),
    (
        "office",
        11.0,
        ("Scribo", "Deskline", "Papyra", "Ordina", "Quillmark"),
        ("Notebook", "Pen Set", "Desk Lamp", "Stapler", "File Organizer", "Sticky Notes"),
    ),
    (
        "health",
        15.0,
        ("Vitalis", "Curaleaf", "Puremed", "Nordic Well", "Sanova"),
        ("Vitamins", "First Aid Kit", "Thermometer", "Protein Powder", "Massage Ball"),
    ),
)
ADJECTIVES = (
    "Classic",
    "Essential",
    "Premium",
    "Compact",
    "Deluxe",
    "Eco",
    "Pro",
    "Everyday",
    "Mini",
    "Ultra",
)
LOCATIONS = ("WH-NORTH", "WH-SOUTH")
LOCATION_SCALE = np.array([1.0, 0.65])

CATALOG_COLUMNS = ("item_id", "title", "category", "brand", "price")
INTERACTION_COLUMNS = ("user_id", "item_id", "event_type", "value", "timestamp")
SALES_COLUMNS = ("sku", "location", "date", "units", "promo", "price")
PROMOTION_COLUMNS = ("sku", "location", "start_date", "end_date", "discount_pct")
INVENTORY_COLUMNS = (
    "sku", "location", "on_hand", "on_order", "lead_time_days", "lead_time_sd_days", "unit_cost",
    "order_cost", "holding_cost_rate", "service_level", "moq", "pack_size",
)  # fmt: skip

# Weekday multipliers, Monday first: shoppers browse and buy more at weekends.
INTERACTION_WEEKLY = np.array([0.92, 0.88, 0.90, 0.95, 1.05, 1.30, 1.25])
SALES_WEEKLY = np.array([0.90, 0.88, 0.92, 0.97, 1.08, 1.22, 1.15])
# Share of traffic per UTC hour: quiet nights, a lunch bump, an evening peak.
HOURLY = np.array(
    [0.8, 0.5, 0.3, 0.3, 0.3, 0.5, 1.0, 1.8, 2.4, 2.8, 3.0, 3.3,
     3.8, 3.6, 3.3, 3.2, 3.4, 3.9, 4.6, 5.4, 5.8, 5.2, 3.6, 1.9]
)  # fmt: skip
VIEW_TO_CART = 0.30
CART_TO_PURCHASE = 0.34
PURCHASE_RATED = 0.25
PROMO_UPLIFT = 1.7
PROMO_WEEKS_PER_YEAR = 5
PROMO_DISCOUNT = 0.8
PROMO_DAYS = 7
PLANNED_PROMOTIONS = 4
# Planned campaigns go to SKUs drawn from this many best sellers (by recent demand at both warehouses).
PLANNED_PROMOTION_POOL = 12
PLANNING_DAYS = 28
BLANK_SERVICE_LEVEL_SHARE = 0.2
GAP_DAYS = 10
# The duplicated sales row is this many days before the last day.
DUPLICATE_DAYS_AGO = 20


@dataclass(frozen=True)
class PlantedIssues:
    """The data issues `generate_shop` puts in, as (sku, location) keys and dates."""

    stocked_never_sold: tuple[str, str]
    sold_not_stocked: tuple[str, str]
    gap: tuple[str, str]
    gap_dates: tuple[date, ...]
    duplicated: tuple[str, str]
    duplicated_date: date


@dataclass(frozen=True)
class Catalog:
    item_ids: np.ndarray
    categories: np.ndarray  # category index per item
    prices: np.ndarray
    popularity: np.ndarray  # relative draw weight within its category


def generate_shop(
    out_dir: Path,
    seed: int = 7,
    *,
    today: date | None = None,
    n_items: int = 3000,
    n_users: int = 5000,
    interaction_days: int = 182,
    n_skus: int = 400,
    sales_days: int = 730,
    mean_views_per_user: float = 45.0,
    data_issues: bool = True,
) -> dict[str, Path]:
    """Write the five shop files into `out_dir`; returns {kind: path} for each ingest kind.

    `today` defaults to the current UTC date; all data ends the day before it. `data_issues` plants the
    issues described in the module docstring.
    """
    if n_skus > n_items:
        raise ValueError(f"n_skus ({n_skus}) cannot exceed n_items ({n_items})")
    today = today or datetime.now(UTC).date()
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    catalog = _catalog(rng, n_items)
    paths = {
        "catalog": out_dir / "catalog.csv",
        "interactions": out_dir / "interactions.csv.gz",
        "sales": out_dir / "sales.csv",
        "inventory": out_dir / "inventory.csv",
        "promotions": out_dir / "promotions.csv",
    }
    _write_csv(_catalog_table(rng, catalog), paths["catalog"])
    interactions = _interactions(rng, catalog, n_users, today, interaction_days, mean_views_per_user)
    _write_csv(interactions, paths["interactions"], compress=True)
    # The SKUs planned for replenishment are the catalog's best sellers.
    skus = np.sort(np.argsort(-catalog.popularity, kind="stable")[:n_skus])
    sales, mean_demand = _sales(rng, catalog, skus, today, sales_days)
    inventory = _inventory(rng, catalog, skus, mean_demand)
    if data_issues:
        # A stream of its own, so the clean data is the same with or without the issues.
        issues_rng = np.random.default_rng([seed, 1])
        issues = _planted_issues(catalog, skus, today, sales_days)
        sales, inventory = _plant_issues(issues_rng, catalog, issues, sales, inventory)
    _write_csv(sales, paths["sales"])
    _write_csv(inventory, paths["inventory"])
    # A stream of its own too: planning campaigns changes none of the other files.
    promotions = _planned_promotions(np.random.default_rng([seed, 2]), catalog, skus, mean_demand, today)
    _write_csv(promotions, paths["promotions"])
    return paths


def _planned_promotions(
    rng: np.random.Generator, catalog: Catalog, skus: np.ndarray, mean_demand: np.ndarray, today: date
) -> pa.Table:
    """Week-long campaigns starting within the planning window, for SKUs among the best sellers.

    The SKUs carrying planted data issues (positions 1, 2 and the last) are left out, so a promoted SKU's
    forecast shows the uplift and nothing else."""
    per_sku = mean_demand.reshape(len(skus), len(LOCATIONS)).sum(axis=1)
    eligible = np.setdiff1d(np.arange(len(skus)), [1, 2, len(skus) - 1])
    pool = eligible[np.argsort(-per_sku[eligible], kind="stable")][:PLANNED_PROMOTION_POOL]
    chosen = np.sort(rng.choice(pool, size=min(PLANNED_PROMOTIONS, len(pool)), replace=False))
    # Sales end yesterday, so `today` is the first forecast day; every campaign ends inside the window.
    offsets = rng.integers(2, PLANNING_DAYS - PROMO_DAYS + 1, size=len(chosen))
    starts = [today + timedelta(days=int(offset)) for offset in offsets]
    locations = ["" for _ in chosen]
    if len(chosen):
        locations[-1] = LOCATIONS[0]  # a campaign of one warehouse only
    return pa.table(
        {
            "sku": catalog.item_ids[skus[chosen]],
            "location": locations,
            "start_date": [start.isoformat() for start in starts],
            "end_date": [(start + timedelta(days=PROMO_DAYS - 1)).isoformat() for start in starts],
            "discount_pct": [round((1 - PROMO_DISCOUNT) * 100)] * len(chosen),
        },
        schema=pa.schema(
            [(name, pa.int64() if name == "discount_pct" else pa.string()) for name in PROMOTION_COLUMNS]
        ),
    )


def _planted_issues(catalog: Catalog, skus: np.ndarray, today: date, sales_days: int) -> PlantedIssues:
    """Which series carry the planted data issues (fixed positions, so a reader can find them)."""
    if len(skus) < 3 or len(skus) >= len(catalog.item_ids):
        raise ValueError("data issues need at least 3 SKUs and a catalog item that is not one of them")
    # The most appealing item outside the replenished SKUs: new, just received, not sold yet.
    ranked = np.argsort(-catalog.popularity, kind="stable")
    newcomer = ranked[~np.isin(ranked, skus)][0]
    ids = catalog.item_ids
    gap_length = min(GAP_DAYS, max(sales_days // 4, 1))
    gap_start = today - timedelta(days=sales_days // 2)
    duplicated_date = today - timedelta(days=min(DUPLICATE_DAYS_AGO, sales_days))
    return PlantedIssues(
        stocked_never_sold=(str(ids[newcomer]), LOCATIONS[0]),
        sold_not_stocked=(str(ids[skus[-1]]), LOCATIONS[1]),
        gap=(str(ids[skus[1]]), LOCATIONS[0]),
        gap_dates=tuple(gap_start + timedelta(days=n) for n in range(gap_length)),
        duplicated=(str(ids[skus[2]]), LOCATIONS[0]),
        duplicated_date=duplicated_date,
    )


def _plant_issues(
    rng: np.random.Generator, catalog: Catalog, issues: PlantedIssues, sales: pa.Table, inventory: pa.Table
) -> tuple[pa.Table, pa.Table]:
    def rows_of(table: pa.Table, key: tuple[str, str]) -> np.ndarray:
        return (table["sku"].to_numpy(zero_copy_only=False) == key[0]) & (
            table["location"].to_numpy(zero_copy_only=False) == key[1]
        )

    dates = sales["date"].to_numpy(zero_copy_only=False)
    gap = rows_of(sales, issues.gap) & np.isin(dates, [d.isoformat() for d in issues.gap_dates])
    (duplicate,) = np.flatnonzero(
        rows_of(sales, issues.duplicated) & (dates == issues.duplicated_date.isoformat())
    )
    keep = np.flatnonzero(~gap)
    # The re-sent row follows its original, as a retried export line would.
    order = np.insert(keep, np.searchsorted(keep, duplicate) + 1, duplicate)
    sales = sales.take(pa.array(order))

    inventory = inventory.filter(pa.array(~rows_of(inventory, issues.sold_not_stocked)))
    sku, location = issues.stocked_never_sold
    price = float(catalog.prices[np.flatnonzero(catalog.item_ids == sku)[0]])
    pack = 6
    newcomer = {
        "sku": [sku],
        "location": [location],
        "on_hand": [float(4 * pack)],
        "on_order": [0.0],
        "lead_time_days": [7.0],
        "lead_time_sd_days": [1.5],
        "unit_cost": [round(price * 0.55, 2)],
        "order_cost": [35.0],
        "holding_cost_rate": [0.22],
        "service_level": [0.95],
        "moq": [pack],
        "pack_size": [pack],
    }
    inventory = pa.concat_tables([inventory, pa.table(newcomer, schema=inventory.schema)])
    blank = rng.random(inventory.num_rows) < BLANK_SERVICE_LEVEL_SHARE
    levels = pa.array(inventory["service_level"].to_numpy(), mask=blank)
    return sales, inventory.set_column(
        inventory.schema.get_field_index("service_level"), "service_level", levels
    )


def _catalog(rng: np.random.Generator, n_items: int) -> Catalog:
    # Uneven category sizes, as in a real assortment.
    shares = rng.dirichlet(np.full(len(CATEGORIES), 4.0))
    categories = rng.choice(len(CATEGORIES), size=n_items, p=shares)
    typical = np.array([price for _, price, _, _ in CATEGORIES])
    raw = rng.lognormal(mean=np.log(typical[categories]), sigma=0.45)
    prices = np.maximum(np.round(raw) - 0.01, 0.99)
    # Heavy-tailed appeal: a few items draw most of the attention in every category.
    popularity = rng.lognormal(mean=0.0, sigma=1.3, size=n_items)
    item_ids = np.char.add("I", np.char.zfill(np.arange(1, n_items + 1).astype(str), 5))
    return Catalog(
        item_ids=item_ids, categories=categories, prices=np.round(prices, 2), popularity=popularity
    )


def _catalog_table(rng: np.random.Generator, catalog: Catalog) -> pa.Table:
    n = len(catalog.item_ids)
    names = np.array([name for name, _, _, _ in CATEGORIES])
    brand_pick = rng.integers(0, 1_000_000, size=n)
    noun_pick = rng.integers(0, 1_000_000, size=n)
    adjective = np.array(ADJECTIVES)[rng.integers(0, len(ADJECTIVES), size=n)]
    brands = np.empty(n, dtype=object)
    nouns = np.empty(n, dtype=object)
    for index, (_, _, brand_names, noun_names) in enumerate(CATEGORIES):
        in_category = catalog.categories == index
        brands[in_category] = np.array(brand_names)[brand_pick[in_category] % len(brand_names)]
        nouns[in_category] = np.array(noun_names)[noun_pick[in_category] % len(noun_names)]
    titles = brands + " " + adjective.astype(object) + " " + nouns
    return pa.table(
        {
            "item_id": catalog.item_ids,
            "title": titles.astype(str),
            "category": names[catalog.categories],
            "brand": brands.astype(str),
            "price": catalog.prices,
        }
    )


def _day_weights(first_day: date, n_days: int, weekly: np.ndarray, trend: float) -> np.ndarray:
    weekdays = (np.arange(n_days) + first_day.weekday()) % 7
    return weekly[weekdays] * (1.0 + trend * np.arange(n_days) / max(n_days - 1, 1))


def _interactions(
    rng: np.random.Generator,
    catalog: Catalog,
    n_users: int,
    today: date,
    n_days: int,
    mean_views_per_user: float,
) -> pa.Table:
    n_categories = len(CATEGORIES)
    # Long-tailed activity: most users browse a little, a few browse a lot.
    sigma = 1.1
    views_per_user = np.maximum(
        1, np.round(rng.lognormal(np.log(mean_views_per_user) - sigma**2 / 2, sigma, n_users))
    ).astype(np.int64)
    user_of_view = np.repeat(np.arange(n_users), views_per_user)
    n_views = len(user_of_view)

    # Each user cares about a few categories; a small concentration parameter makes the tastes sharp.
    affinity = rng.dirichlet(np.full(n_categories, 0.25), size=n_users)
    cumulative = np.cumsum(affinity, axis=1)
    draws = rng.random(n_views)
    view_category = np.minimum((draws[:, None] > cumulative[user_of_view]).sum(axis=1), n_categories - 1)
    view_item = np.empty(n_views, dtype=np.int64)
    for category in range(n_categories):
        members = np.flatnonzero(catalog.categories == category)
        chosen = view_category == category
        weights = catalog.popularity[members]
        view_item[chosen] = members[
            np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(chosen.sum()), side="right").clip(
                max=len(members) - 1
            )
        ]

    first_day = today - timedelta(days=n_days)
    day_weights = _day_weights(first_day, n_days, INTERACTION_WEEKLY, trend=0.15)
    day = rng.choice(n_days, size=n_views, p=day_weights / day_weights.sum())
    hour = rng.choice(24, size=n_views, p=HOURLY / HOURLY.sum())
    epoch_first_day = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp())
    view_ts = epoch_first_day + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n_views)
    # Funnel steps follow the view within the same session, and never spill past the last day.
    day_end = epoch_first_day + (day + 1) * 86_400 - 1

    carted = rng.random(n_views) < VIEW_TO_CART
    cart_ts = np.minimum(view_ts[carted] + rng.integers(30, 1_800, carted.sum()), day_end[carted])
    bought = rng.random(carted.sum()) < CART_TO_PURCHASE
    purchase_ts = np.minimum(cart_ts[bought] + rng.integers(60, 3_600, bought.sum()), day_end[carted][bought])
    purchase_users = user_of_view[carted][bought]
    purchase_items = view_item[carted][bought]
    quantity = 1 + rng.binomial(2, 0.12, bought.sum())
    amount = np.round(catalog.prices[purchase_items] * quantity, 2)

    # Ratings follow a purchase by one to fourteen days; those falling after the export are not in it.
    rating_delay = rng.integers(86_400, 14 * 86_400, bought.sum())
    last_second = epoch_first_day + n_days * 86_400 - 1
    rated = (rng.random(bought.sum()) < PURCHASE_RATED) & (purchase_ts + rating_delay <= last_second)
    rating_ts = purchase_ts[rated] + rating_delay[rated]
    rating_users = purchase_users[rated]
    rating_items = purchase_items[rated]
    # People rate what they love: items in their favourite categories get better ratings.
    fondness = affinity[rating_users, catalog.categories[rating_items]] * n_categories
    mean_rating = np.clip(3.4 + 0.35 * np.log1p(fondness), 1.0, 5.0)
    ratings = np.clip(np.round(mean_rating + rng.normal(0.0, 0.9, rated.sum())), 1, 5)

    users = np.concatenate([user_of_view, user_of_view[carted], purchase_users, rating_users])
    items = np.concatenate([view_item, view_item[carted], purchase_items, rating_items])
    kinds = np.concatenate(
        [
            np.zeros(n_views, np.int8),
            np.ones(carted.sum(), np.int8),
            np.full(bought.sum(), 2, np.int8),
            np.full(rated.sum(), 3, np.int8),
        ]
    )
    values = np.concatenate([np.ones(n_views), np.ones(carted.sum()), amount, ratings])
    timestamps = np.concatenate([view_ts, cart_ts, purchase_ts, rating_ts])
    order = np.lexsort((kinds, users, timestamps))  # chronological, like an event log export

    user_ids = np.char.add("U", np.char.zfill(np.arange(1, n_users + 1).astype(str), 5))
    iso = np.char.add(np.datetime_as_string(timestamps[order].astype("datetime64[s]"), unit="s"), "Z")
    return pa.table(
        {
            "user_id": user_ids[users[order]],
            "item_id": catalog.item_ids[items[order]],
            "event_type": np.array(["view", "cart", "purchase", "rating"])[kinds[order]],
            "value": values[order],
            "timestamp": iso,
        }
    )


def _sales(
    rng: np.random.Generator, catalog: Catalog, skus: np.ndarray, today: date, n_days: int
) -> tuple[pa.Table, np.ndarray]:
    """Daily units per (sku, location); also returns each series' mean daily demand for the inventory file."""
    n_series = len(skus) * len(LOCATIONS)
    series_sku = np.repeat(skus, len(LOCATIONS))
    series_location = np.tile(np.arange(len(LOCATIONS)), len(skus))
    first_day = today - timedelta(days=n_days)

    # Demand level follows appeal; about one series in six is a slow mover selling on a few days only.
    appeal = catalog.popularity[series_sku] / np.median(catalog.popularity[skus])
    level = np.exp(rng.normal(1.2, 0.6, n_series)) * np.sqrt(appeal) * LOCATION_SCALE[series_location]
    slow = rng.random(n_series) < 0.17
    level[slow] = rng.uniform(0.05, 0.4, slow.sum())
    slope = rng.uniform(-0.25, 0.45, n_series)  # relative change over the whole history
    t = np.arange(n_days) / (n_days - 1)
    day_of_year = (np.arange(n_days) + first_day.timetuple().tm_yday) / 365.25
    yearly = 1.0 + 0.12 * np.sin(2 * np.pi * (day_of_year - 0.2))
    weekly = SALES_WEEKLY[(np.arange(n_days) + first_day.weekday()) % 7]
    expected = level[:, None] * (1.0 + slope[:, None] * t) * (yearly * weekly)[None, :]

    # Promotions: week-long campaigns, about PROMO_WEEKS_PER_YEAR per SKU, run at both warehouses at once.
    starts = rng.random((len(skus), n_days)) < PROMO_WEEKS_PER_YEAR / 365.0
    started_so_far = np.cumsum(starts, axis=1)
    started_a_week_ago = np.pad(started_so_far, ((0, 0), (7, 0)))[:, :n_days]
    promo = np.repeat(started_so_far - started_a_week_ago > 0, len(LOCATIONS), axis=0)
    expected = np.where(promo, expected * PROMO_UPLIFT, expected)

    # Gamma-Poisson (negative binomial) noise: real sales are over-dispersed.
    dispersion = 4.0
    units = rng.poisson(rng.gamma(dispersion, expected / dispersion)).astype(np.float64)

    list_price = catalog.prices[series_sku][:, None]
    price = np.round(np.where(promo, list_price * PROMO_DISCOUNT, list_price), 2)
    dates = np.arange(np.datetime64(first_day), np.datetime64(today)).astype(str)
    table = pa.table(
        {
            "sku": np.repeat(catalog.item_ids[series_sku], n_days),
            "location": np.repeat(np.array(LOCATIONS)[series_location], n_days),
            "date": np.tile(dates, n_series),
            "units": units.ravel(),
            "promo": promo.ravel(),
            "price": price.ravel(),
        }
    )
    recent = units[:, -90:].mean(axis=1)
    return table, recent


def _inventory(
    rng: np.random.Generator, catalog: Catalog, skus: np.ndarray, mean_demand: np.ndarray
) -> pa.Table:
    n_series = len(skus) * len(LOCATIONS)
    series_sku = np.repeat(skus, len(LOCATIONS))
    series_location = np.tile(np.arange(len(LOCATIONS)), len(skus))
    lead_time = rng.choice(
        np.array([3.0, 5.0, 7.0, 10.0, 14.0, 21.0]), n_series, p=[0.1, 0.25, 0.3, 0.15, 0.12, 0.08]
    )
    pack_size = rng.choice(np.array([1, 6, 12, 24]), n_series, p=[0.4, 0.3, 0.2, 0.1])
    moq = pack_size * rng.choice(np.array([1, 2, 4]), n_series, p=[0.5, 0.3, 0.2])
    days_of_cover = rng.uniform(3.0, 45.0, n_series)
    on_hand = np.round(mean_demand * days_of_cover)
    on_order = np.where(
        rng.random(n_series) < 0.3, np.ceil(mean_demand * lead_time / pack_size) * pack_size, 0.0
    )
    unit_cost = np.round(catalog.prices[series_sku] * rng.uniform(0.45, 0.7, n_series), 2)
    return pa.table(
        {
            "sku": catalog.item_ids[series_sku],
            "location": np.array(LOCATIONS)[series_location],
            "on_hand": on_hand,
            "on_order": on_order,
            "lead_time_days": lead_time,
            "lead_time_sd_days": np.round(lead_time * rng.uniform(0.1, 0.35, n_series), 1),
            "unit_cost": unit_cost,
            "order_cost": np.round(rng.uniform(20.0, 80.0, n_series), 2),
            "holding_cost_rate": np.round(rng.uniform(0.18, 0.3, n_series), 3),
            "service_level": rng.choice(np.array([0.9, 0.95, 0.98]), n_series, p=[0.3, 0.5, 0.2]),
            "moq": moq.astype(np.int64),
            "pack_size": pack_size.astype(np.int64),
        }
    )


def _write_csv(table: pa.Table, path: Path, *, compress: bool = False) -> None:
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, write_options=pa_csv.WriteOptions(quoting_style="needed"))
    data = buffer.getvalue()
    if compress:
        # mtime=0 keeps the gzip header, and so the file, identical for identical content. Level 1 costs a
        # third of the default level's time for a file about a fifth larger (16 MB CSV: 3.6 MB vs 2.9 MB).
        data = gzip.compress(data, compresslevel=1, mtime=0)
    path.write_bytes(data)
