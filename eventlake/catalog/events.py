"""The event catalog: one declaration per event type, and nothing else.

Everything else (the API's validation models, the OpenAPI document, the Spark schemas, the metastore
DDL, the docs and the test fixtures) is derived from these declarations by
:mod:`eventlake.catalog.derive`. To change a schema, change it here, bump ``version``.
"""

from __future__ import annotations

from decimal import Decimal

from eventlake.catalog.types import Choice, EventField, EventType, Integer, Money, Text, Timestamp

NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.'-]*$"
IDENT = r"^[A-Za-z0-9_.:-]+$"

ITEMS = ("sword", "axe", "shield")
ITEM_KINDS = ("gold", "silver", "bronze", "iron", "wood")
CURRENCIES = ("EUR", "USD", "GBP", "GOLD")
ASSETS = ("BTC", "ETH", "SOL", "AAPL", "MSFT", "GOLD", "OIL", "EURUSD")

ACCOUNT_ID = EventField("account_id", Text(max_length=40, pattern=IDENT), "Bank account id.", example="acc-1")
AMOUNT = EventField("amount", Money(precision=18, scale=2), "Amount of money, exact to the cent.", example="12.50")
CURRENCY = EventField("currency", Choice(CURRENCIES), "ISO currency (or in-game GOLD).", example="EUR")
ASSET = EventField("asset", Choice(ASSETS), "Asset symbol.", example="BTC")
QUANTITY = EventField(
    "quantity", Money(precision=18, scale=6, ge=Decimal("0.000001")), "Units of the asset.", example="1.5"
)
UNIT_PRICE = EventField("unit_price", Money(precision=18, scale=6), "Price of one unit.", example="42000.00")
GUILD = EventField("guild_name", Text(max_length=40, pattern=NAME), "Name of the guild.", example="Knights")

ITEM_PURCHASED = EventType(
    name="item_purchased",
    domain="game",
    version=1,
    description="A player bought a weapon or a shield in the shop.",
    fields=(
        EventField("item", Choice(ITEMS), "What was bought.", example="sword"),
        EventField("item_kind", Choice(ITEM_KINDS), "Material of the item.", example="gold"),
        EventField("strength", Integer(ge=0, le=10), "Strength of the item, 0-10.", example=7),
        EventField("price", Money(precision=12, scale=2), "Price paid, in gold.", example="25.00"),
    ),
    legacy_routes={
        "/purchase_a_sword": {"item": "sword"},
        "/purchase_an_axe": {"item": "axe"},
        "/purchase_a_shield": {"item": "shield"},
    },
)
GUILD_JOINED = EventType(
    name="guild_joined",
    domain="game",
    version=1,
    description="A player joined a guild and paid its fee.",
    fields=(GUILD, EventField("fee", Money(precision=12, scale=2), "Membership fee paid.", example="5.00")),
    legacy_routes={"/join_a_guild": {}, "/join_guild": {}},
)
GUILD_QUIT = EventType(
    name="guild_quit",
    domain="game",
    version=1,
    description="A player left a guild (the exit fee may be zero).",
    fields=(GUILD, EventField("fee", Money(precision=12, scale=2), "Exit fee paid.", example="0.00")),
    legacy_routes={"/quit_guild": {}, "/quit_a_guild": {}},
)
WAR_DECLARED = EventType(
    name="war_declared",
    domain="game",
    version=1,
    description="A player declared war on a kingdom.",
    fields=(EventField("enemy", Text(max_length=40, pattern=NAME), "Who war was declared on.", example="Mordor"),),
    legacy_routes={"/declare_a_war": {}, "/declare_war": {}},
)
PEACE_DECLARED = EventType(
    name="peace_declared",
    domain="game",
    version=1,
    description="A player declared peace with a kingdom.",
    fields=(EventField("enemy", Text(max_length=40, pattern=NAME), "Who peace was made with.", example="Mordor"),),
    legacy_routes={"/declare_peace": {}, "/declare_a_peace": {}},
)
PAID = EventType(
    name="paid",
    domain="game",
    version=1,
    description="A player got paid (quest reward, salary).",
    fields=(EventField("amount", Money(precision=12, scale=2), "Gold received.", example="10.00"),),
    legacy_routes={"/get_paid": {}},
)
PAGE_VIEWED = EventType(
    name="page_viewed",
    domain="game",
    version=1,
    description="The default event: a player opened a page of the game.",
    fields=(EventField("page", Text(max_length=200, pattern=r"^/[A-Za-z0-9/_.-]*$"), "Path viewed.", example="/"),),
    legacy_routes={"/": {"page": "/"}},
)

ACCOUNT_OPENED = EventType(
    name="account_opened",
    domain="bank",
    version=1,
    description="A customer opened a bank account.",
    fields=(ACCOUNT_ID, CURRENCY),
    legacy_routes={"/open_account": {}},
)
ACCOUNT_CLOSED = EventType(
    name="account_closed",
    domain="bank",
    version=1,
    description="A customer closed a bank account.",
    fields=(ACCOUNT_ID,),
    legacy_routes={"/close_account": {}},
)
DEPOSITED = EventType(
    name="deposited",
    domain="bank",
    version=1,
    description="Money was deposited into an account.",
    fields=(ACCOUNT_ID, AMOUNT, CURRENCY),
    legacy_routes={"/deposit": {}, "/deposit/": {}},
)
WITHDRAWN = EventType(
    name="withdrawn",
    domain="bank",
    version=1,
    description="Money was withdrawn from an account.",
    fields=(ACCOUNT_ID, AMOUNT, CURRENCY),
    legacy_routes={"/withdraw": {}, "/withdraw/": {}},
)
ASSET_BOUGHT = EventType(
    name="asset_bought",
    domain="bank",
    version=1,
    description="A customer bought units of an asset.",
    fields=(ACCOUNT_ID, ASSET, QUANTITY, UNIT_PRICE),
    legacy_routes={"/buy_asset": {}, "/buy_asset/": {}},
)
ASSET_SOLD = EventType(
    name="asset_sold",
    domain="bank",
    version=1,
    description="A customer sold units of an asset.",
    fields=(ACCOUNT_ID, ASSET, QUANTITY, UNIT_PRICE),
    legacy_routes={"/sell_asset": {}, "/sell_asset/": {}},
)
ASSET_PRICES_VIEWED = EventType(
    name="asset_prices_viewed",
    domain="bank",
    version=1,
    description="A customer looked up the price of an asset.",
    fields=(ASSET,),
    legacy_routes={"/return_price": {}, "/asset_prices": {}},
)
ACCOUNT_VIEWED = EventType(
    name="account_viewed",
    domain="bank",
    version=1,
    description="A customer looked up an account.",
    fields=(ACCOUNT_ID,),
    legacy_routes={"/account": {}, "/lookup_account": {}},
)

PRICE_TICK = EventType(
    name="price_tick",
    domain="market",
    version=1,
    description="A market quote: the price of a coin at a moment.",
    fields=(
        EventField("coin_id", Text(max_length=64, pattern=IDENT), "Coin id at the price API.", example="bitcoin"),
        EventField("symbol", Text(max_length=16, pattern=r"^[A-Za-z0-9]+$"), "Ticker symbol.", example="btc"),
        EventField(
            "price", Money(precision=24, scale=8, ge=Decimal(0)), "Price in the quote currency.", example="42000.5"
        ),
        EventField("quote_currency", Choice(("usd", "eur")), "Quote currency.", example="usd"),
        EventField("quote_time", Timestamp(), "When the price was quoted.", example="2026-11-24T10:00:00Z"),
    ),
)

#: Every event type, in a stable order (docs, fixtures and table creation follow it).
EVENT_TYPES: tuple[EventType, ...] = (
    ITEM_PURCHASED,
    GUILD_JOINED,
    GUILD_QUIT,
    WAR_DECLARED,
    PEACE_DECLARED,
    PAID,
    PAGE_VIEWED,
    ACCOUNT_OPENED,
    ACCOUNT_CLOSED,
    DEPOSITED,
    WITHDRAWN,
    ASSET_BOUGHT,
    ASSET_SOLD,
    ASSET_PRICES_VIEWED,
    ACCOUNT_VIEWED,
    PRICE_TICK,
)
