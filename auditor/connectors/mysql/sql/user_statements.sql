-- Statements each user ran since the server started: data statements apart from the rest (performance_schema).
SELECT 1 AS dbaudit_probe,  -- an alias survives in statement digests, which drop comments
       USER AS user_name,
       SUM(CASE WHEN EVENT_NAME IN ('statement/sql/select', 'statement/sql/insert', 'statement/sql/insert_select',
                                    'statement/sql/update', 'statement/sql/update_multi', 'statement/sql/delete',
                                    'statement/sql/delete_multi', 'statement/sql/replace',
                                    'statement/sql/replace_select', 'statement/sql/load')
                THEN COUNT_STAR ELSE 0 END) AS dml,
       SUM(CASE WHEN EVENT_NAME IN ('statement/sql/select', 'statement/sql/insert', 'statement/sql/insert_select',
                                    'statement/sql/update', 'statement/sql/update_multi', 'statement/sql/delete',
                                    'statement/sql/delete_multi', 'statement/sql/replace',
                                    'statement/sql/replace_select', 'statement/sql/load')
                THEN 0 ELSE COUNT_STAR END) AS other
FROM performance_schema.events_statements_summary_by_user_by_event_name
WHERE USER IS NOT NULL AND COUNT_STAR > 0
GROUP BY USER
ORDER BY USER
