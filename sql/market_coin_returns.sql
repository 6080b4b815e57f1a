-- Return per coin over the whole interval and over its last hour.
with ticks as (
    select
        coin_id,
        symbol,
        quote_currency,
        quote_time,
        price
    from market_price_tick
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

last_hour_ticks as (
    select
        coin_id,
        quote_currency,
        quote_time,
        price
    from ticks
    where quote_time >= :interval_end - interval '1' hour
),

interval_prices as (
    select
        coin_id,
        quote_currency,
        max(symbol) as symbol,
        count(*) as ticks,
        min_by(price, quote_time) as first_price,
        max_by(price, quote_time) as last_price
    from ticks
    group by coin_id, quote_currency
),

last_hour_prices as (
    select
        coin_id,
        quote_currency,
        min_by(price, quote_time) as first_price,
        max_by(price, quote_time) as last_price
    from last_hour_ticks
    group by coin_id, quote_currency
)

select
    i.coin_id,
    i.symbol,
    i.quote_currency,
    i.ticks,
    i.first_price,
    i.last_price,
    round(cast(i.last_price as double) / nullif(cast(i.first_price as double), 0) - 1, 6) as interval_return,
    round(cast(h.last_price as double) / nullif(cast(h.first_price as double), 0) - 1, 6) as last_hour_return
from interval_prices as i
left join last_hour_prices as h on i.coin_id = h.coin_id and i.quote_currency = h.quote_currency
order by i.coin_id asc, i.quote_currency asc
