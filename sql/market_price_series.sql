-- Closing price per coin and minute over the interval (the price chart).
with ticks as (
    select
        coin_id,
        quote_currency,
        quote_time,
        price
    from market_price_tick
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    coin_id,
    quote_currency,
    date_trunc('minute', quote_time) as quote_minute,
    max_by(price, quote_time) as close_price,
    min(price) as low_price,
    max(price) as high_price,
    count(*) as ticks
from ticks
group by coin_id, quote_currency, date_trunc('minute', quote_time)
order by coin_id asc, quote_currency asc, quote_minute asc
