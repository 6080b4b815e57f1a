-- Share of the broker's messages that went to the quarantine instead of a curated table, per day.
with quarantined as (
    select
        quarantine_date as activity_date,
        count(*) as quarantined
    from landing_quarantine
    where quarantine_date between :first_date and :last_date
    group by quarantine_date
),

curated_events as (
    select event_date from game_item_purchased
    where event_date between :first_date and :last_date
    union all
    select event_date from game_guild_joined
    where event_date between :first_date and :last_date
    union all
    select event_date from game_guild_quit
    where event_date between :first_date and :last_date
    union all
    select event_date from game_war_declared
    where event_date between :first_date and :last_date
    union all
    select event_date from game_peace_declared
    where event_date between :first_date and :last_date
    union all
    select event_date from game_paid
    where event_date between :first_date and :last_date
    union all
    select event_date from game_page_viewed
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_account_opened
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_account_closed
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_deposited
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_withdrawn
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_asset_bought
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_asset_sold
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_asset_prices_viewed
    where event_date between :first_date and :last_date
    union all
    select event_date from bank_account_viewed
    where event_date between :first_date and :last_date
    union all
    select event_date from market_price_tick
    where event_date between :first_date and :last_date
),

curated as (
    select
        event_date as activity_date,
        count(*) as curated
    from curated_events
    group by event_date
),

days as (
    select activity_date from quarantined
    union distinct
    select activity_date from curated
)

select
    d.activity_date,
    coalesce(q.quarantined, 0) as quarantined,
    coalesce(c.curated, 0) as curated,
    round(
        cast(coalesce(q.quarantined, 0) as double)
        / nullif(coalesce(q.quarantined, 0) + coalesce(c.curated, 0), 0),
        6
    ) as quarantine_rate
from days as d
left join quarantined as q on d.activity_date = q.activity_date
left join curated as c on d.activity_date = c.activity_date
order by d.activity_date asc
