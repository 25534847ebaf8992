-- The reading side of kaskade_platform.texts.packed: a text column sent as one string, either
-- U+001F followed by the values joined by U+001F (U+001E for NULL), or a JSON array.
CREATE FUNCTION unpack_texts(packed text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN left(packed, 1) = E'\x1f' THEN string_to_array(substr(packed, 2), E'\x1f', E'\x1e')
                ELSE ARRAY(SELECT json_array_elements_text(packed::json)) END
$$;
