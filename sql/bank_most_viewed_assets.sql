-- The most viewed assets: price look-ups and distinct viewers, over the interval.
with views as (
    select
        asset,
        user_id
    from bank_asset_prices_viewed
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    asset,
    count(*) as views,
    count(distinct user_id) as viewers
from views
group by asset
order by views desc, asset asc
