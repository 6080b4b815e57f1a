-- The most bought assets: purchases, units and money spent, over the interval.
with purchases as (
    select
        asset,
        user_id,
        quantity,
        quantity * unit_price as cost
    from bank_asset_bought
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    asset,
    count(*) as purchases,
    count(distinct user_id) as buyers,
    sum(quantity) as units_bought,
    round(sum(cost), 2) as money_spent
from purchases
group by asset
order by purchases desc, asset asc
