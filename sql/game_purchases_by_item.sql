-- Purchases by item and kind, with revenue in gold, over the interval.
with purchases as (
    select
        item,
        item_kind,
        price
    from game_item_purchased
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    item,
    item_kind,
    count(*) as purchases,
    sum(price) as revenue
from purchases
group by item, item_kind
order by revenue desc, item asc, item_kind asc
