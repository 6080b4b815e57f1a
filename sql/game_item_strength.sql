-- Average strength of the items bought, by item, over the interval.
with purchases as (
    select
        item,
        strength
    from game_item_purchased
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    item,
    count(*) as purchases,
    round(avg(cast(strength as double)), 3) as avg_strength,
    min(strength) as min_strength,
    max(strength) as max_strength
from purchases
group by item
order by item asc
