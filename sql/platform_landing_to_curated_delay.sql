-- Delay from the producer accepting an event to its curated file being written, per type and hour.
with events as (
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_item_purchased
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_guild_joined
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_guild_quit
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_war_declared
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_peace_declared
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_paid
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from game_page_viewed
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_account_opened
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_account_closed
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_deposited
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_withdrawn
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_asset_bought
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_asset_sold
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_asset_prices_viewed
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from bank_account_viewed
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        "$file_modified_time" as curated_at
    from market_price_tick
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

delays as (
    select
        event_type,
        event_date,
        event_hour,
        date_diff('millisecond', received_at, cast(curated_at at time zone 'UTC' as timestamp(3))) / 1000.0
            as delay_seconds
    from events
)

select
    event_type,
    event_date,
    event_hour,
    count(*) as events,
    round(min(delay_seconds), 3) as min_delay_seconds,
    round(avg(delay_seconds), 3) as avg_delay_seconds,
    round(max(delay_seconds), 3) as max_delay_seconds
from delays
group by event_type, event_date, event_hour
order by event_date asc, event_hour asc, event_type asc
