-- Events per type and hour of event time over the interval (every curated table).
with events as (
    select
        event_type,
        event_date,
        event_hour,
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
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
        user_id
    from market_price_tick
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    event_type,
    event_date,
    event_hour,
    count(*) as events,
    count(distinct user_id) as users
from events
group by event_type, event_date, event_hour
order by event_date asc, event_hour asc, event_type asc
