-- Gold earned (get paid) per player over the interval.
with payments as (
    select
        user_id,
        amount
    from game_paid
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    user_id,
    count(*) as payments,
    sum(amount) as total_earned,
    max(amount) as largest_payment
from payments
group by user_id
order by total_earned desc, user_id asc
