-- Global settings the checks and the report read (SHOW tolerates names this server does not have).
SHOW GLOBAL VARIABLES WHERE Variable_name IN %(names)s
