# install/export: see issue 3
