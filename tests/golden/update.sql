-- + stage version DB.S.T5_P_MODEL/eba1ff5a56f25c8c
PUT 'file:///a/config.json' @"DB"."S"."T5_P_MODEL"/eba1ff5a56f25c8c/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE;
PUT 'file:///a/model.safetensors' @"DB"."S"."T5_P_MODEL"/eba1ff5a56f25c8c/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE;
PUT 'file:///cache/markers/eba1ff5a56f25c8c/_COMPLETE.json' @"DB"."S"."T5_P_MODEL"/eba1ff5a56f25c8c/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE;
-- -/+ function DB.S.SUMMARIZE(VARCHAR)
CREATE OR REPLACE FUNCTION "DB"."S"."SUMMARIZE"("TEXT" VARCHAR) COPY GRANTS RETURNS VARCHAR LANGUAGE PYTHON CALLED ON NULL INPUT VOLATILE RUNTIME_VERSION = '3.11' PACKAGES = ('pytorch') IMPORTS = ('@"DB"."S"."LLM"/2fc4325514be921b/handler.py', '@"DB"."S"."T5_P_MODEL"/eba1ff5a56f25c8c/config.json', '@"DB"."S"."T5_P_MODEL"/eba1ff5a56f25c8c/model.safetensors') HANDLER = 'handler.summarize' COMMENT = '[t5-deploy spec=cd563e485ae1]';
-- - stage version DB.S.T5_P_MODEL/371b0a73f9238cb9
REMOVE @"DB"."S"."T5_P_MODEL"/371b0a73f9238cb9/;
-- - stage version DB.S.T5_P_MODEL/f911fe3e38fab21c
REMOVE @"DB"."S"."T5_P_MODEL"/f911fe3e38fab21c/;
